"""Progress of a replay: a one-line bar on a terminal, a JSON log line every few seconds otherwise, a summary.

The bar (stderr) shows the phase, rows read, files done, items published, the rate, the event time
reached and an ETA (publishing only, when the total is known).
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

logger = logging.getLogger(__name__)


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory in MB: Linux's VmHWM, the high-water mark of this program's own
    memory. (getrusage's ru_maxrss is not used: across fork/vfork + exec it keeps the parent's peak.)"""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else 0.0


def descendants(pid: int) -> list[int]:
    """The process's children, theirs, ... (from /proc/PID/task/*/children: a child started from any thread)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    kids = [int(child) for child in children.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def tree_peak_rss_mb(pid: int, peaks: dict[int, float]) -> float:
    """Polled: the sum of the peak RSS (VmHWM) of a process and of every descendant seen so far, kept in
    `peaks` between calls (a reading process's peak survives its exit). An upper bound of the peak of the sum."""
    for each in [pid, *descendants(pid)]:
        peaks[each] = max(peaks.get(each, 0.0), peak_rss_mb(each))
    return sum(peaks.values())


def wait_with_peak_rss(pid: int, timeout_s: float | None = None) -> tuple[int | None, float]:
    """Wait for child `pid`, polling `tree_peak_rss_mb` meanwhile: (its exit code, or None after
    `timeout_s`; the peak in MB). wait4's ru_maxrss would include the parent's memory from before the exec."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    peak = 0.0
    peaks: dict[int, float] = {}
    while True:
        peak = max(peak, tree_peak_rss_mb(pid, peaks))
        done, status, _ = os.wait4(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), peak
        if deadline is not None and time.monotonic() > deadline:
            return None, peak
        time.sleep(0.05)


@dataclass
class Progress:
    every_s: float = 5.0
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    phase: str = "listing"
    files_total: int = 0
    files_done: int = 0
    rows: int = 0
    events: int = 0
    published: int = 0
    total: int = 0
    event_time_us: int | None = None
    started: float = field(default_factory=time.monotonic)
    phase_started: float = field(default_factory=time.monotonic)
    phase_base: int = 0
    _last: float = 0.0

    def __post_init__(self) -> None:
        self.tty = self.stream.isatty()
        self._period = 0.2 if self.tty else self.every_s

    def enter(self, phase: str, total: int = 0) -> None:
        self.phase, self.total = phase, total
        self.phase_started, self.phase_base = time.monotonic(), self.published
        self.tick(force=True)

    def row(self) -> None:
        self.rows += 1
        if self.rows & 0x3FFF == 0:
            self.tick()

    def add(self, rows: int, events: int) -> None:
        """Rows and events read since the last report (from a reader thread or a reading process)."""
        self.rows += rows
        self.events += events
        self.tick()

    def item(self, position: int, time_us: int | None) -> None:
        self.published = position
        if time_us is not None:
            self.event_time_us = time_us
        if position & 0x3FFF == 0:
            self.tick()

    def snapshot(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.phase_started, 1e-9)
        rate = (self.published - self.phase_base) / elapsed if self.phase == "publishing" else self.rows / elapsed
        eta = (self.total - self.published) / rate if self.phase == "publishing" and rate > 0 and self.total else None
        return {
            "phase": self.phase,
            "files_done": self.files_done,
            "files": self.files_total,
            "rows": self.rows,
            "events": self.events,
            "published": self.published,
            "total": self.total,
            "rate_per_s": round(rate),
            "event_time": self.event_time(),
            "eta_s": round(eta) if eta is not None else None,
            "peak_rss_mb": round(peak_rss_mb()),
        }

    def event_time(self) -> str | None:
        if self.event_time_us is None:
            return None
        return datetime.fromtimestamp(self.event_time_us / 1e6, UTC).isoformat(timespec="seconds")

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._period:
            return
        self._last = now
        s = self.snapshot()
        if self.tty:
            done = s["published"] / s["total"] if s["total"] else 0.0
            bar = "#" * int(done * 20)
            eta = f" ETA {s['eta_s']}s" if s["eta_s"] is not None else ""
            line = (
                f"\r{s['phase']:<10} [{bar:<20}] files {s['files_done']}/{s['files']} rows {s['rows']:,} "
                f"sent {s['published']:,}/{s['total']:,} {s['rate_per_s']:,}/s at {s['event_time'] or '-'}{eta}"
            )
            self.stream.write(line[:200].ljust(120))
            self.stream.flush()
        else:
            logger.info("progress", extra={"progress": s})

    def close(self) -> None:
        if self.tty:
            self.tick(force=True)
            self.stream.write("\n")
            self.stream.flush()
