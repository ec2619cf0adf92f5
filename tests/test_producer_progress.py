"""The producer's progress: a bar on a terminal, JSON log lines otherwise (pure, no stack)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from services.producer.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_rewritten_bar_line() -> None:
    screen = Terminal()
    progress = Progress(stream=screen, files_total=3)
    progress.enter("publishing", total=1000)
    progress.files_done = 3
    progress.item(500, 1_612_137_600_000_000)
    progress.tick(force=True)
    progress.close()
    text = screen.getvalue()
    assert text.startswith("\rpublishing")
    assert "files 3/3" in text
    assert "sent 500/1,000" in text
    assert "2021-02-01T00:00:00+00:00" in text
    assert text.endswith("\n")


def test_outside_a_terminal_progress_is_a_json_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="services.producer.progress")
    progress = Progress(stream=io.StringIO(), files_total=2)
    progress.enter("reading")
    for _ in range(3):
        progress.row()
    progress.tick(force=True)
    record = caplog.records[-1]
    snapshot = record.progress  # type: ignore[attr-defined]
    assert snapshot["phase"] == "reading"
    assert snapshot["rows"] == 3
    assert snapshot["files"] == 2
    json.dumps(snapshot)
