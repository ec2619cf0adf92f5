"""The cluster's parts that need no running cluster: the workload generator (against the producer's own
parsing), the address preflight (wrong addresses named within seconds), the supervisor (real child
processes killed and restarted) and the port layout."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from bench.workload import build_trip_files, expected_events
from devstack import paths
from devstack.cluster import ClusterPorts
from devstack.preflight import Unreachable, check_kafka, check_spark_master
from devstack.process import ManagedProcess
from devstack.supervisor import Supervisor
from services.producer.trip_rows import BadRow, split_rows


def closed_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_workload_months_follow_each_other_and_ids_are_new(tmp_path: Path) -> None:
    workload = build_trip_files(tmp_path, 140_000)
    assert workload.events == 140_000
    assert len(workload.files) >= 6, "more events than one pass over the sources: copies with shifted months"
    firsts = []
    for path in workload.files:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
        start = rows[0].index("starttime") if "starttime" in rows[0] else rows[0].index("started_at")
        firsts.append(min(date.fromisoformat(r[start][:10]) for r in rows[1:]))
    assert [(d.year, d.month) for d in firsts] == [(2018, 1 + k) for k in range(len(firsts))]
    events = list(expected_events(workload.files))
    assert len({e.event_id for e in events}) == len(events) == 140_000


def test_workload_events_are_what_the_producer_reads(tmp_path: Path) -> None:
    workload = build_trip_files(tmp_path, 30_000)
    expected = {e.event_id: e for e in expected_events(workload.files)}
    produced = {}
    for path in workload.files:
        with path.open(newline="") as f:
            for item in split_rows(csv.reader(f), str(path)):
                assert not isinstance(item, BadRow), item
                produced[item.event_id] = item
    assert set(produced) == set(expected)
    for event_id, event in produced.items():
        assert event.station_id == expected[event_id].station_id
        assert event.event_time == expected[event_id].utc


def test_wrong_broker_addresses_are_named_within_seconds() -> None:
    wrong = f"127.0.0.1:{closed_port()}"
    started = time.monotonic()
    with pytest.raises(Unreachable, match=rf"Kafka broker {wrong} \(BIKESHARE_KAFKA_BOOTSTRAP_SERVERS\)"):
        check_kafka(f"{wrong},no-such-host.invalid:9092")
    assert time.monotonic() - started < 5
    with pytest.raises(Unreachable, match="'kafka' is not host:port"):
        check_kafka("kafka")


def test_one_dead_broker_of_several_is_a_warning_naming_it() -> None:
    with socket.socket() as live:
        live.bind(("127.0.0.1", 0))
        live.listen()
        wrong = f"127.0.0.1:{closed_port()}"
        warnings = check_kafka(f"127.0.0.1:{live.getsockname()[1]},{wrong}")
    assert len(warnings) == 1
    assert wrong in warnings[0]


def test_wrong_spark_master_is_named_within_seconds() -> None:
    url = f"spark://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    with pytest.raises(Unreachable, match=rf"Spark master {url} \(BIKESHARE_SPARK_MASTER\)"):
        check_spark_master(url)
    assert time.monotonic() - started < 5
    with pytest.raises(Unreachable, match="expected spark://host:port"):
        check_spark_master("http://127.0.0.1:7077")
    check_spark_master("local[2]")


def test_devstack_check_command_reports_by_name() -> None:
    env = {
        **os.environ,
        "BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        "BIKESHARE_SPARK_MASTER": "spark://127.0.0.1:1",
    }
    started = time.monotonic()
    argv = [sys.executable, "-m", "devstack", "check"]
    result = subprocess.run(argv, env=env, cwd=paths.ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "BIKESHARE_KAFKA_BOOTSTRAP_SERVERS" in result.stderr
    assert time.monotonic() - started < 15


def _sleeper(tmp_path: Path, name: str, seconds: str = "60") -> ManagedProcess:
    return ManagedProcess(name, ["sleep", seconds], tmp_path / f"{name}.log")


def _until(condition: object, deadline_s: float = 10) -> None:
    end = time.monotonic() + deadline_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "condition not met before the deadline"
        time.sleep(0.05)


def test_supervisor_restarts_a_killed_process_after_the_pause(tmp_path: Path) -> None:
    supervisor = Supervisor()
    proc = _sleeper(tmp_path, "victim")
    proc.start()
    supervisor.add(proc, lambda: proc.proc is not None and proc.proc.poll() is None)
    supervisor.start()
    try:
        first_pid = proc.proc.pid if proc.proc else None
        incident = supervisor.kill("victim", pause_s=0.5)
        _until(lambda: incident.ready_at is not None)
        assert proc.proc is not None
        assert proc.proc.pid != first_pid
        assert incident.restarted_at is not None
        assert incident.restarted_at - incident.died_at >= 0.5
        assert incident.recovery_s is not None
        assert incident.recovery_s < 5
    finally:
        supervisor.stop()
        proc.stop()


def test_supervisor_restarts_a_crash_but_not_a_finished_job(tmp_path: Path) -> None:
    supervisor = Supervisor()
    crashing = ManagedProcess("crashing", ["sh", "-c", "sleep 0.2; exit 3"], tmp_path / "crashing.log")
    job = _sleeper(tmp_path, "job", "0.1")
    for process in (crashing, job):
        process.start()
    supervisor.add(crashing, lambda: True)
    job_entry = supervisor.add(job, lambda: True, one_shot=True)
    supervisor.start()
    try:
        _until(lambda: len([i for i in supervisor.incidents if i.name == "crashing"]) >= 2)
        assert all(i.cause == "exited 3" for i in supervisor.incidents)
        _until(lambda: job_entry.finished)
        assert not [i for i in supervisor.incidents if i.name == "job"]
    finally:
        supervisor.stop()
        crashing.stop()


def test_cluster_ports_are_distinct_and_within_32() -> None:
    ports = ClusterPorts(20000).all()
    assert len(set(ports.values())) == len(ports)
    assert all(20000 <= p < 20032 for p in ports.values())
