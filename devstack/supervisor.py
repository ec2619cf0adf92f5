"""Keeps the cluster's processes running: a process that dies is started again, and every death,
restart and return to readiness is recorded with its time (the chaos runner reports from this log).

A service that crashes is restarted after a back-off (0.5 s, doubling to 10 s, reset once it has been
ready for a minute). `kill(name, pause_s)` is the chaos runner's SIGKILL: the supervisor then waits
`pause_s` before the restart. A one-shot job (the producer) is restarted only if it did not exit 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.process import ManagedProcess

logger = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0
STABLE_AFTER_S = 60.0
POLL_S = 0.1


@dataclass
class Incident:
    """One death of a supervised process and how it came back."""

    name: str
    died_at: float
    cause: str  # "killed" (by kill()) or "exited <code>"
    restarted_at: float | None = None
    ready_at: float | None = None

    @property
    def recovery_s(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.died_at


@dataclass
class Supervised:
    process: ManagedProcess
    ready: Callable[[], bool]
    one_shot: bool = False
    backoff_s: float = BACKOFF_START_S
    restart_at: float | None = None
    ready_since: float | None = None
    finished: bool = False
    incident: Incident | None = None
    killed: bool = False
    history: list[Incident] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.process.name


class Supervisor:
    """A thread watching every registered process ten times a second."""

    def __init__(self) -> None:
        self.entries: dict[str, Supervised] = {}
        self.incidents: list[Incident] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, process: ManagedProcess, ready: Callable[[], bool], one_shot: bool = False) -> Supervised:
        """Watch an already started process."""
        with self._lock:
            entry = Supervised(process, ready, one_shot)
            self.entries[process.name] = entry
            return entry

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (the processes themselves are stopped by their owner)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def remove(self, name: str) -> None:
        with self._lock:
            self.entries.pop(name, None)

    def kill(self, name: str, pause_s: float, whole_group: bool = True) -> Incident:
        """SIGKILL `name` and, with `whole_group`, everything it started (its process group and every
        descendant, as a container's kill does: Postgres's backends each run in a session of their own
        and would otherwise outlive the postmaster, still holding its shared memory, so the restarted
        server refuses to start until they leave); restart after `pause_s`."""
        with self._lock:
            entry = self.entries[name]
            proc = entry.process.proc
            if proc is None or proc.poll() is not None:
                raise RuntimeError(f"{name} is not running; nothing to kill")
            now = time.monotonic()
            if whole_group:
                kill_tree(proc.pid)
            else:
                _signal(proc.pid, signal.SIGKILL)
            proc.wait()
            incident = self._died(entry, now, "killed")
            entry.restart_at = now + pause_s
            entry.killed = True
            logger.warning("chaos: killed %s (pid %d); restart in %.1fs", name, proc.pid, pause_s)
            return incident

    def _died(self, entry: Supervised, now: float, cause: str) -> Incident:
        incident = Incident(entry.name, now, cause)
        entry.incident = incident
        entry.ready_since = None
        entry.history.append(incident)
        self.incidents.append(incident)
        return incident

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            with self._lock:
                for entry in list(self.entries.values()):
                    try:
                        self._tick(entry, time.monotonic())
                    except Exception:  # one entry's failing check must not stop the others' supervision
                        logger.exception("supervisor: checking %s failed", entry.name)

    def _tick(self, entry: Supervised, now: float) -> None:
        proc = entry.process.proc
        if entry.finished or proc is None:
            return
        code = proc.poll()
        if code is not None and entry.restart_at is None:
            if entry.one_shot and code == 0:
                entry.finished = True
                logger.info("%s finished", entry.name)
                return
            self._died(entry, now, f"exited {code}")
            entry.restart_at = now + entry.backoff_s
            tail = entry.process.tail(8)
            logger.error("%s exited with code %d; restarting in %.1fs\n%s", entry.name, code, entry.backoff_s, tail)
            entry.backoff_s = min(entry.backoff_s * 2, BACKOFF_MAX_S)
            return
        if entry.restart_at is not None:
            if now < entry.restart_at:
                return
            entry.restart_at = None
            entry.process.start()
            if entry.incident is not None:
                entry.incident.restarted_at = time.monotonic()
            logger.info("supervisor: restarted %s", entry.name)
            return
        if entry.ready_since is None:
            if entry.ready():
                entry.ready_since = now
                # Every incident still open ends here: a victim whose restart crashed again (a new incident)
                # is back only now, and the chaos runner waits on the first one (its kill).
                recovered = [i for i in entry.history if i.ready_at is None]
                for incident in recovered:
                    incident.ready_at = now
                if recovered:
                    logger.info("%s ready again %.1fs after it died", entry.name, now - recovered[0].died_at)
        elif now - entry.ready_since > STABLE_AFTER_S:
            entry.backoff_s = BACKOFF_START_S


def descendants(pid: int) -> list[int]:
    """Every living process below `pid` (children, grandchildren...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may hold spaces and parentheses: split after its closing one.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int, reaped_within_s: float = 10.0) -> None:
    """SIGKILL `pid`'s process group and every descendant (collected first: orphans lose their parent
    link), then wait until the descendants are reaped: a dead postmaster not yet reaped by init still
    answers `kill(pid, 0)`, and a new one on the same data directory would refuse to start
    ("lock file postmaster.pid already exists"). `pid` itself is the caller's child: the caller reaps it."""
    below = descendants(pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    for child in below:
        _signal(child, signal.SIGKILL)
    end = time.monotonic() + reaped_within_s
    while any(Path(f"/proc/{child}").exists() for child in below) and time.monotonic() < end:
        time.sleep(0.05)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
