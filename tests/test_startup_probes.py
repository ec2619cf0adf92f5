"""A wrong address or a bad file given to a service at startup is named in one line within seconds, and
the service exits 2 (issue 11 "Bad input", issue 7): never a hang, never a traceback.

Each service is started for real (`python -m services.<name>`) against addresses that cannot work: a
closed port, a host that does not resolve, a port that is open but is not Kafka.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.web_fixture import start_postgres
from devstack import paths
from devstack.process import free_port
from shared.startup import StartupError, probe_kafka, probe_spark_master

KAFKA_SERVICES = ("enricher", "spark_sink", "producer")


def closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


def run_service(name: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BIKESHARE_", "AWS_"))}
    settings = {
        "BIKESHARE_LOG_FORMAT": "text",
        "BIKESHARE_POSTGRES_DSN": f"postgresql://u@127.0.0.1:{closed_port()}/d",
        "BIKESHARE_SPARK_CHECKPOINT_DIR": "/nonexistent/checkpoint",
        "BIKESHARE_SPARK_JARS_DIR": str(paths.SPARK_JARS),
        "BIKESHARE_S3_BUCKET": "b",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", f"services.{name}"],
        env={**clean, **settings, **env},
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, time.monotonic() - started


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The service's own error lines (the client libraries are silenced while probing)."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return [line for line in done.stderr.splitlines() if " ERROR " in line]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (not a Kafka broker)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.mark.parametrize("service", KAFKA_SERVICES)
def test_a_wrong_kafka_address_is_named_within_seconds(service: str) -> None:
    port = closed_port()
    bootstrap = f"127.0.0.1:{port},no-such-broker.invalid:9092"
    done, took = run_service(
        service, {"BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "BIKESHARE_STARTUP_DEADLINE_S": "3"}
    )
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = [line for line in errors(done) if "kafka at" in line]  # the sink names its Postgres too
    assert f"kafka at {bootstrap} is unreachable" in line
    assert f"127.0.0.1:{port}: connection refused" in line
    assert "no-such-broker.invalid:9092: unknown host" in line
    assert "fix BIKESHARE_KAFKA_BOOTSTRAP_SERVERS" in line
    assert took < 15, f"{took:.1f}s"


def test_the_default_deadline_reports_within_20_seconds() -> None:
    done, took = run_service("enricher", {"BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"})
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = errors(done)
    assert "for 10s" in line
    assert took < 20, f"{took:.1f}s"


def test_a_wrong_spark_master_and_broker_are_both_named_by_the_sink() -> None:
    master = f"spark://127.0.0.1:{closed_port()}"
    broker = f"127.0.0.1:{closed_port()}"
    done, took = run_service(
        "spark_sink",
        {
            "BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": broker,
            "BIKESHARE_SPARK_MASTER": master,
            "BIKESHARE_STARTUP_DEADLINE_S": "3",
        },
    )
    assert done.returncode == 2, done.stderr[-3000:]
    text = "\n".join(errors(done)) + done.stderr
    assert f"Spark master {master} is unreachable" in text
    assert "fix BIKESHARE_SPARK_MASTER" in text
    assert f"kafka at {broker} is unreachable" in text
    assert took < 15, f"{took:.1f}s"


async def test_an_open_port_that_is_not_kafka_is_named(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(StartupError, match=rf"127.0.0.1:{silent_port} accepts connections but does not answer"):
        await probe_kafka(f"127.0.0.1:{silent_port}", deadline_s=2)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("spark:/127.0.0.1:7077", "is not spark://host:port or local[N]"),
        ("spark://master", "is not spark://host:port or local[N]"),
        ("yarn", "is not spark://host:port or local[N]"),
    ],
)
async def test_a_malformed_spark_master_is_named_at_once(url: str, message: str) -> None:
    with pytest.raises(StartupError) as raised:
        await probe_spark_master(url, deadline_s=5)
    assert f"BIKESHARE_SPARK_MASTER='{url}' {message}" in str(raised.value)


async def test_malformed_kafka_addresses_are_named_at_once() -> None:
    for bootstrap in ("kafka", "", "host:port"):
        with pytest.raises(StartupError, match="is not host:port"):
            await probe_kafka(bootstrap, deadline_s=5)


async def test_a_dependency_that_comes_up_within_the_deadline_is_waited_for() -> None:
    port = closed_port()

    async def master_starts_later() -> asyncio.Server:
        await asyncio.sleep(1)  # the "master" appears while the probe is retrying
        return await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)

    later = asyncio.create_task(master_starts_later())
    await probe_spark_master(f"spark://127.0.0.1:{port}", deadline_s=10)
    server = await later
    server.close()
    await server.wait_closed()
    await probe_spark_master("local[2]", deadline_s=1)


def test_an_unreadable_station_catalogue_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "station_information.json"
    done, _ = run_service(
        "enricher", {"BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "BIKESHARE_STATION_CATALOGUE": str(missing)}
    )
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = errors(done)
    assert f"cannot load the station catalogue: {missing}: cannot be read" in line
    assert "fix BIKESHARE_STATION_CATALOGUE" in line


def test_every_problem_of_the_sink_is_named_at_once(tmp_path: Path) -> None:
    postgres = closed_port()
    done, took = run_service(
        "spark_sink",
        {
            "BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "BIKESHARE_SPARK_JARS_DIR": str(tmp_path),
            "BIKESHARE_POSTGRES_DSN": f"postgresql://u@127.0.0.1:{postgres}/d",
            "BIKESHARE_STARTUP_DEADLINE_S": "2",
        },
    )
    assert done.returncode == 2, done.stderr[-3000:]
    lines = errors(done)
    assert len(lines) == 3, lines
    assert f"no spark-sql-kafka-0-10_2.13 jar in {tmp_path}; run `./dev setup`" in lines[0]
    assert "kafka at 127.0.0.1:1 is unreachable" in lines[1]
    assert f"postgres at 127.0.0.1:{postgres}/d is unreachable" in lines[2]
    assert "fix BIKESHARE_POSTGRES_DSN" in lines[2]
    assert took < 12, f"{took:.1f}s"


def test_missing_browser_libraries_stop_the_web_in_one_line(tmp_path: Path) -> None:
    done, took = run_service("web", {"BIKESHARE_LEAFLET_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"leaflet.js is not in {tmp_path}; run `./dev setup` (npm ci --prefix services/web) "
        "or fix BIKESHARE_LEAFLET_DIR"
    )
    assert took < 10


@pytest.mark.stack
async def test_a_taken_web_port_is_one_line() -> None:
    postgres = await start_postgres("web-port")
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            port = squatter.getsockname()[1]
            done, _ = await asyncio.to_thread(
                run_service, "web", {"BIKESHARE_POSTGRES_DSN": postgres.web_dsn, "BIKESHARE_WEB_PORT": str(port)}
            )
    finally:
        await asyncio.to_thread(postgres.remove)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"cannot listen on 127.0.0.1:{port} (Address already in use); stop what holds it "
        f"(`ss -ltnp 'sport = :{port}'`) or set BIKESHARE_WEB_PORT / BIKESHARE_WEB_HOST"
    )
