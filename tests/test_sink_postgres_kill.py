"""Postgres SIGKILLed while the sink is in the middle of writing a large batch (issue 7 / 11).

The fault, as the long chaos run met it: the server dies while asyncpg is streaming a COPY faster than
the server reads it, so the client waits for its socket to accept more data; the lost connection never
woke that wait, and the sink sat for good with nothing logged and /health 200. Here the COPY's backend
is stopped (SIGSTOP) until the client's buffers are full, then every Postgres process is SIGKILLed
(postmaster and backends, as a container kill does). The write must be retried once Postgres is back,
land exactly once, and report the loss while it lasts; a sink whose Postgres stays away past its retry
deadline must exit non-zero (the supervisor restarts it and the checkpoint reruns the batch).

Expected values are the events the test builds itself (uuid, datetime), never the sink's output.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from bench.web_fixture import OwnPostgres, start_postgres
from devstack.components import Postgres
from devstack.services import service_process
from devstack.stack import Stack
from devstack.supervisor import kill_tree
from services.spark_sink.batch_writer import BatchWriter
from services.spark_sink.postgres_writer import BatchResult
from shared import topics
from tests.bad_input_kinds import clean_event
from tests.conftest import eventually, start_stack, stop_stack

pytestmark = pytest.mark.stack

BIG_BATCH = 120_000  # ~10 MB of COPY data: more than the loopback socket buffers hold
T0 = datetime(2024, 9, 6, 8, 0, tzinfo=UTC)


def staging_rows(count: int) -> list[tuple[Any, ...]]:
    """`STAGING_COLUMNS` tuples (the event, then its Kafka coordinates): one departure per bike, spread
    over 300 stations."""
    rows = []
    for n in range(count):
        station = n % 300
        when = T0 + timedelta(seconds=n)
        lat = 40.70 + station / 10_000
        rows.append((uuid.uuid4(), when, "start", f"b{n}", f"S{station}", f"Street {station}", lat, -73.99))
    return [(*row, f"t{n}", "classic_bike", 1, topics.CLEAN, 0, n, 0) for n, row in enumerate(rows)]


async def fetchval(dsn: str, sql: str) -> Any:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def copy_backend(admin_dsn: str) -> tuple[int, int] | None:
    """(pid, client port) of the backend running a batch's COPY (into the staging table `incoming`; the
    sink's start copies the station catalogue too), if one is."""
    try:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        row = await conn.fetchrow(
            "SELECT pid, client_port FROM pg_stat_activity"
            " WHERE query ILIKE 'COPY%incoming%' AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return None if row is None else (row["pid"], row["client_port"])


def queued_bytes(server_port: int, client_port: int) -> tuple[int, int]:
    """(bytes the server has not read, bytes the client could not send yet) on that connection (`ss`)."""

    def queue(local: int, peer: int, column: int) -> int:
        out = subprocess.run(
            ["ss", "-tnH", "state", "established", f"( sport = :{local} and dport = :{peer} )"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return int(out[column]) if out else 0

    return queue(server_port, client_port, 0), queue(client_port, server_port, 1)


async def stall_copy_then_kill_postgres(postgres: Postgres, admin_dsn: str, died: Callable[[], str | None]) -> None:
    """Wait for the sink's COPY, stop its backend until the unread data piles up, SIGKILL every process."""

    async def copying() -> tuple[int, int] | None:
        if (death := died()) is not None:
            pytest.fail(f"the writer failed before its COPY: {death}")
        return await copy_backend(admin_dsn)

    pid, client_port = await eventually("the sink's COPY running", copying, 180, 0.02)
    os.kill(pid, signal.SIGSTOP)
    seen: list[tuple[int, int]] = []

    async def full() -> tuple[int, int] | None:
        """Both socket buffers full (no longer changing): the client's next writes wait in asyncpg."""
        seen.append(await asyncio.to_thread(queued_bytes, postgres.port, client_port))
        return seen[-1] if len(seen) > 2 and seen[-1] == seen[-2] == seen[-3] and min(seen[-1]) > 0 else None

    try:
        await eventually("the COPY's data piling up unread", full, 30)
    except pytest.fail.Exception:
        pytest.fail(f"the COPY never filled both socket buffers; (server unread, client unsent) last: {seen[-3:]}")
    assert postgres.process.proc is not None
    kill_tree(postgres.process.proc.pid)  # the postmaster, the stopped backend and every other one
    postgres.process.proc.wait()


@pytest.fixture
async def own_postgres() -> AsyncIterator[OwnPostgres]:
    postgres = await start_postgres("sink-kill")
    try:
        yield postgres
    finally:
        postgres.remove()


async def test_a_copy_cut_by_a_postgres_kill_is_retried_and_lands_once(
    own_postgres: OwnPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    pg = own_postgres
    rows = staging_rows(BIG_BATCH)
    coordinates = [(topics.CLEAN, 0, n, 0) for n in range(len(rows))]  # COORDINATE_COLUMNS
    writer = BatchWriter(pg.dsn, retry_deadline_s=60, retry_max_wait_s=1)
    done: Future[BatchResult] = Future()

    def write() -> None:
        try:
            done.set_result(writer.write(7, rows, coordinates, []))
        except BaseException as exc:  # handed to the test through the future
            done.set_exception(exc)

    # A daemon thread, not asyncio.to_thread: a write that hangs must fail the test, not the interpreter's exit.
    threading.Thread(target=write, daemon=True).start()
    try:
        await stall_copy_then_kill_postgres(
            pg.postgres, pg.admin_dsn, lambda: repr(done.exception()) if done.done() else None
        )

        async def lost_reported() -> str | None:
            return writer.postgres_lost

        await eventually("the writer reporting postgres lost", lost_reported, 10)
        assert any("connection to postgres closed during the write" in r.getMessage() for r in caplog.records)
        await asyncio.to_thread(pg.postgres.start)
        await asyncio.to_thread(pg.postgres.wait_ready)
        result = await asyncio.wait_for(asyncio.wrap_future(done), 60)
    finally:
        if done.done():
            writer.close()
    assert result == BatchResult(7, BIG_BATCH, BIG_BATCH)
    assert writer.postgres_lost is None
    assert await fetchval(pg.dsn, "SELECT count(*) FROM records") == BIG_BATCH
    assert await fetchval(pg.dsn, "SELECT count(*) FROM records WHERE batch_id = 7") == BIG_BATCH
    assert await fetchval(pg.dsn, "SELECT events FROM sink_batches WHERE batch_id = 7") == BIG_BATCH


# The whole service: Kafka -> Spark -> the same kill -> /health 503 -> resumes -> gives up with exit 1.

SINK_EVENTS = 120_000
LATE_EVENTS = 10


@pytest.fixture
def sink_stack() -> Iterator[Stack]:
    stack = start_stack("sink-kill")
    try:
        yield stack
    finally:
        stop_stack(stack)


async def publish(bootstrap: str, numbers: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=50, max_batch_size=1_000_000)
    await producer.start()
    try:
        docs = (clean_event(n, event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"kill/{n}"))) for n in numbers)
        sends = [await producer.send(topics.CLEAN, _json(doc), key=str(doc["station_id"]).encode()) for doc in docs]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def _json(doc: dict[str, object]) -> bytes:
    return json.dumps(doc).encode()


async def health(url: str) -> int:
    try:
        async with aiohttp.ClientSession() as http, http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


@pytest.mark.spark
async def test_the_sink_resumes_after_postgres_is_killed_mid_batch_and_exits_1_if_it_stays_away(
    sink_stack: Stack,
) -> None:
    stack = sink_stack
    await publish(stack.kafka.bootstrap, range(SINK_EVENTS))
    env = {
        **stack.service_env("spark_sink"),
        "BIKESHARE_TRIGGER_SECONDS": "2",
        # The events are published one per record (no frames): all of them in the first batch.
        "BIKESHARE_MAX_OFFSETS_PER_TRIGGER": str(SINK_EVENTS),
        "BIKESHARE_SINK_RETRY_DEADLINE_S": "10",
        "BIKESHARE_SINK_RETRY_MAX_WAIT_S": "1",
    }
    sink = service_process("spark_sink", env, stack.logs)
    url = f"http://127.0.0.1:{stack.ports.metrics('spark_sink')}/health"
    sink.start()
    try:
        admin_dsn = stack.postgres.dsn_admin.rsplit("/", 1)[0] + "/bikeshare"
        await stall_copy_then_kill_postgres(stack.postgres, admin_dsn, sink.death)
        await eventually("sink /health 503 while postgres is lost", lambda: _is(health(url), 503), 10)
        await asyncio.to_thread(stack.postgres.start)
        await asyncio.to_thread(stack.postgres.wait_ready)
        await eventually(
            "every event written once after postgres returned",
            lambda: fetchval(stack.postgres_dsn, f"SELECT count(*) = {SINK_EVENTS} FROM records"),
            90,
        )
        await eventually("sink /health 200 again", lambda: _is(health(url), 200), 20)
        assert sink.death() is None, "the same process resumed"
        log = sink.log_path.read_text()
        assert "the connection to postgres closed during the write" in log

        # Postgres gone for longer than the retry deadline: the query stops and the process exits 1.
        assert stack.postgres.process.proc is not None
        kill_tree(stack.postgres.process.proc.pid)
        stack.postgres.process.proc.wait()
        await publish(stack.kafka.bootstrap, range(SINK_EVENTS, SINK_EVENTS + LATE_EVENTS))
        assert sink.proc is not None
        code = await asyncio.to_thread(sink.proc.wait, 90)
        assert code == 1, sink.tail(40)
        lines = sink.log_path.read_text().splitlines()
        assert any("postgres still failing after 10s" in line for line in lines), sink.tail(40)
        assert any("exiting 1" in line for line in lines), sink.tail(40)

        # The pipelined writer had returned that batch to Spark, which holds it as done in the checkpoint:
        # the restart finds Postgres without it and rewrites it before the query starts.
        await asyncio.to_thread(stack.postgres.start)
        await asyncio.to_thread(stack.postgres.wait_ready)
        sink.start()
        await eventually(
            "the late events written by the restarted sink",
            lambda: fetchval(stack.postgres_dsn, f"SELECT count(*) = {SINK_EVENTS + LATE_EVENTS} FROM records"),
            120,
        )
        assert "rewriting it" in sink.log_path.read_text(), sink.tail(40)
    finally:
        sink.stop()


async def _is(status: Any, wanted: int) -> bool:
    return bool(await status == wanted)
