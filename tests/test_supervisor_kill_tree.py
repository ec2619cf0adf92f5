"""The supervisor's kill takes the victim's whole process tree, as a container's kill does, and waits until
it is reaped: a child in a session of its own (as Postgres's backends are) dies too, so a restarted server
never meets the old one's processes or its "postmaster.pid" still held by an unreaped zombie."""

from __future__ import annotations

import os
import time
from pathlib import Path

from devstack.process import ManagedProcess
from devstack.supervisor import Supervisor, descendants


def test_kill_takes_children_in_sessions_of_their_own(tmp_path: Path) -> None:
    # bash -> setsid sleep (a new session, like a postgres backend) and a plain sleep (same group).
    script = "setsid sleep 300 & sleep 300 & wait"
    victim = ManagedProcess("victim", ["bash", "-c", script], tmp_path / "victim.log")
    victim.start()
    assert victim.proc is not None
    end = time.monotonic() + 10
    while len(below := descendants(victim.proc.pid)) < 2:
        assert time.monotonic() < end, "the children did not start"
        time.sleep(0.05)
    sessions = {os.getsid(pid) for pid in below}
    assert len(sessions) == 2, "one child runs in a session of its own"
    supervisor = Supervisor()
    supervisor.add(victim, ready=lambda: True)
    try:
        incident = supervisor.kill("victim", pause_s=60)
        assert incident.cause == "killed"
        assert [pid for pid in below if Path(f"/proc/{pid}").exists()] == [], "every descendant is gone and reaped"
    finally:
        supervisor.stop()
        victim.stop()


def test_a_victim_whose_restart_crashes_ends_its_kill_when_it_is_back(tmp_path: Path) -> None:
    """The kill's incident (what the chaos runner waits on) gets its `ready` time even when the first restart
    crashes (e.g. its port still taken) and a later one comes up; before, only the crash's incident did."""
    starts = tmp_path / "starts"
    script = f'n=$(cat {starts} 2>/dev/null || echo 0); echo $((n+1)) > {starts}; [ "$n" = 1 ] && exit 1; sleep 300'
    victim = ManagedProcess("victim", ["sh", "-c", script], tmp_path / "victim.log")
    victim.start()
    supervisor = Supervisor()
    supervisor.add(victim, ready=lambda: starts.exists() and starts.read_text().strip() == "3")
    supervisor.start()
    try:
        end = time.monotonic() + 10
        while not starts.exists():
            assert time.monotonic() < end
            time.sleep(0.05)
        kill = supervisor.kill("victim", pause_s=0.1)
        while kill.ready_at is None:
            assert time.monotonic() < end + 10, [(i.cause, i.ready_at) for i in supervisor.incidents]
            time.sleep(0.05)
        causes = [i.cause for i in supervisor.incidents]
        assert causes == ["killed", "exited 1"]
        assert all(i.ready_at == kill.ready_at for i in supervisor.incidents)
    finally:
        supervisor.stop()
        victim.stop()
