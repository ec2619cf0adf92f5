"""`python -m shared.geo`: one JSON line per address, `-` for stdin, exit 0 only when all resolved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.geo", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_every_address_resolved_exits_0() -> None:
    done = run("1 Park Avenue", "W 52 St & 11 Ave")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["1 Park Avenue", "W 52 St & 11 Ave"]
    assert set(lines[0]) >= {"query", "lat", "lon", "method", "precision_m"}


def test_stdin_and_a_bad_address_exit_1() -> None:
    done = run("-", stdin="350 5th Ave\nhello\n\n")
    assert done.returncode == 1
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["method"] == "avenue_key_number"
    assert second == {"query": "hello", "error": second["error"], "reason": "format"}
