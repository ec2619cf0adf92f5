"""The end-to-end benchmark's small variant (CI): all four services on a private stack, a few thousand
events, and the report's contract: a table, and as the last line `end-to-end: <N> events/s, p99 event→map <S> s`."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from devstack import paths

pytestmark = [pytest.mark.stack, pytest.mark.spark]

SMALL = ("--events", "2000", "--latency-rate", "200", "--latency-seconds", "5", "--skip-limits", "--timeout", "600")
TIMED = re.compile(r"\| publication -> websocket \| ([\d,]+) \|")
LAST_LINE = re.compile(r"end-to-end: (\d+) events/s, p99 event→map (\d+\.\d) s")


def test_small_run_reports_rates_latency_and_ends_with_the_summary_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.end_to_end", *SMALL],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    match = LAST_LINE.fullmatch(lines[-1])
    assert match, lines[-1]
    assert int(match.group(1)) > 0
    assert any(line.startswith("| end to end: producer start -> last record committed |") for line in lines)
    # The paced phase's 1,000 trip events (200/s for 5 s, plus its opening stock) are each timed.
    timed = [int(m.group(1).replace(",", "")) for m in map(TIMED.match, lines) if m]
    assert timed, lines
    assert timed[0] >= 1000
