"""The bad-input corpus through the REAL pipeline (Kafka, the faust enricher, the Spark sink, Postgres on a
stack of their own): every kind of `tests/bad_input_kinds.py` ends exactly as stated, the valid events
published between them arrive intact, and the sink rides out a Postgres restart and stops with exit 0.

Expected values are the hand-built kinds and events themselves (json module), never the services' output.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from devstack.process import ManagedProcess
from devstack.services import service_process
from devstack.stack import Stack
from shared import limits, topics
from tests.bad_input_kinds import CLEAN_FRAME, RAW_FRAME, Kind, clean_event, clean_kinds, raw_event, raw_kinds
from tests.conftest import eventually, read_topic, start_stack, stop_stack

pytestmark = [pytest.mark.stack, pytest.mark.spark]

VALID_RAW = range(0, 120)
VALID_CLEAN = range(300, 340)
AFTER_RESTART = range(400, 420)


@dataclass
class Run:
    stack: Stack
    sink: ManagedProcess
    at: dict[tuple[str, int, int], Kind] = field(default_factory=dict)
    """(topic, partition, offset) of each bad message -> its kind"""
    frames: dict[str, tuple[int, int]] = field(default_factory=dict)
    """topic -> (partition, offset) of its mixed frame (`RAW_FRAME`, `CLEAN_FRAME`)"""


FRAME_GOOD = [RAW_FRAME[0], RAW_FRAME[2], CLEAN_FRAME[0], CLEAN_FRAME[2]]


@pytest.fixture(scope="module")
def own_stack() -> Iterator[Stack]:
    stack = start_stack("corpus")
    try:
        yield stack
    finally:
        stop_stack(stack)


async def _healthy(url: str, want: bool = True) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return (response.status == 200) is want
    except aiohttp.ClientError:
        return not want


async def _fetchval(dsn: str, sql: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _encode(doc: dict[str, object]) -> bytes:
    return json.dumps(doc).encode()


@pytest.fixture(scope="module")
async def run(own_stack: Stack) -> AsyncIterator[Run]:
    stack = own_stack
    env = {**stack.service_env("spark_sink"), "BIKESHARE_TRIGGER_SECONDS": "2"}
    enricher = service_process("enricher", stack.service_env("enricher"), stack.logs)
    sink = service_process("spark_sink", env, stack.logs)
    result = Run(stack, sink)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap, acks="all", max_request_size=1_048_000)
    try:
        enricher.start()
        sink.start()
        await producer.start()
        kinds = {"raw": raw_kinds(), "clean": clean_kinds()}
        valid = {"raw": [raw_event(n) for n in VALID_RAW], "clean": [clean_event(n) for n in VALID_CLEAN]}
        for name, topic in (("raw", topics.RAW), ("clean", topics.CLEAN)):
            # Bad messages between valid ones, on every partition (keys spread them).
            good = iter(valid[name])
            for kind in kinds[name]:
                for doc in [next(good, None) for _ in range(3)]:
                    if doc is not None:
                        await producer.send_and_wait(topic, _encode(doc), key=str(doc["station_id"]).encode())
                meta = await producer.send_and_wait(topic, kind.payload, key=uuid.uuid4().bytes)
                result.at[(topic, meta.partition, meta.offset)] = kind
            for doc in good:
                await producer.send_and_wait(topic, _encode(doc), key=str(doc["station_id"]).encode())
        for topic, frame in ((topics.RAW, RAW_FRAME), (topics.CLEAN, CLEAN_FRAME)):
            meta = await producer.send_and_wait(topic, json.dumps(frame).encode())
            result.frames[topic] = (meta.partition, meta.offset)
        expected = len(VALID_RAW) + len(VALID_CLEAN) + sum(k.outcome == "clean" for k in kinds["raw"]) + len(FRAME_GOOD)
        await eventually(
            "every valid event in Postgres",
            lambda: _fetchval(stack.postgres_dsn, f"SELECT count(*) = {expected} FROM records"),
            deadline_s=300,
        )
        await eventually(
            "every sink kind quarantined",
            lambda: _fetchval(stack.postgres_dsn, f"SELECT count(*) = {len(kinds['clean']) + 1} FROM sink_quarantine"),
            deadline_s=60,
        )
        yield result
    finally:
        await producer.stop()
        enricher.stop()
        sink.stop()


async def test_every_raw_kind_ends_as_stated(run: Run) -> None:
    bad = {at: kind for at, kind in run.at.items() if at[0] == topics.RAW and kind.outcome == "dead_letter"}
    messages = await read_topic(run.stack.kafka.bootstrap, topics.DEAD_LETTER, len(bad) + 1)
    letters = {json.loads(m.value)["source"]: (json.loads(m.value), len(m.value)) for m in messages}
    assert len(letters) == len(messages) == len(bad) + 1, "one dead letter per bad raw message or frame element"
    partition, offset = run.frames[topics.RAW]
    letter, _ = letters.pop(f"{topics.RAW}/{partition}@{offset}#1")
    assert letter["reason"].startswith("event_id 'not-a-uuid' is not a UUID")
    assert letter["payload"] == json.dumps(RAW_FRAME[1]), "the bad element alone, not its frame"
    for (topic, partition, offset), kind in bad.items():
        letter, size = letters[f"{topic}/{partition}@{offset}"]
        assert letter["stage"] == "enricher", kind.name
        assert letter["reason"].startswith(kind.reason), (kind.name, letter["reason"])
        assert len(letter["payload"]) <= limits.DEAD_LETTER_PAYLOAD_MAX, kind.name
        assert size < limits.MESSAGE_MAX_BYTES, kind.name
        original = kind.payload.decode(errors="replace")
        assert letter["payload"] == original or (
            letter["payload"].endswith(limits.TRUNCATION_MARK)
            and original.startswith(letter["payload"][: -len(limits.TRUNCATION_MARK)])
        ), kind.name
        # Only a valid UUID is ever carried as the dead letter's event id.
        valid_id = kind.event_id is not None and not letter["reason"].startswith("event_id")
        assert letter["event_id"] == (kind.event_id if valid_id else None), kind.name


async def test_valid_events_arrive_intact_beside_the_bad_ones(run: Run) -> None:
    conn = await asyncpg.connect(run.stack.postgres_dsn)
    try:
        rows = {str(r["event_id"]): r for r in await conn.fetch("SELECT * FROM records")}
        streets = {r["station_id"]: r["street"] for r in await conn.fetch("SELECT station_id, street FROM location")}
    finally:
        await conn.close()
    for doc in [raw_event(n) for n in VALID_RAW] + [clean_event(n) for n in VALID_CLEAN] + FRAME_GOOD:
        row = rows.pop(str(doc["event_id"]))
        assert row["station_id"] == doc["station_id"]
        assert row["kind"] == doc["kind"]
        assert row["event_time"] == datetime.fromisoformat(str(doc["event_time"]))
        assert (row["lat"], row["lon"]) == (doc["lat"], doc["lon"])
        assert row["bike_id"] == doc["bike_id"]
    # What is left are the odd-but-valid raw kinds, each stored as stated.
    kept = {k.name: rows.pop(str(k.event_id)) for k in raw_kinds() if k.outcome == "clean"}
    assert rows == {}, "nothing else was written"
    assert kept["raw: time with +09:00 offset (honoured)"]["event_time"] == datetime(2024, 9, 6, 20, 30, tzinfo=UTC)
    assert kept["raw: station id ' 72.0 ' (canonicalised)"]["station_id"] == "72"
    assert streets["XSS1"] == "<img src=x onerror=alert(1)>", "markup is kept as text (the map escapes it)"


async def test_every_sink_kind_is_quarantined_with_its_reason_and_coordinates(run: Run) -> None:
    bad = {at: kind for at, kind in run.at.items() if at[0] == topics.CLEAN}
    conn = await asyncpg.connect(run.stack.postgres_dsn)
    try:
        rows = await conn.fetch("SELECT * FROM sink_quarantine")
    finally:
        await conn.close()
    by_element = {(r["topic"], r["kafka_partition"], r["kafka_offset"], r["frame_index"]): r for r in rows}
    partition, offset = run.frames[topics.CLEAN]
    element = by_element.pop((topics.CLEAN, partition, offset, 1))
    assert element["reason"] == "lat or lon is missing"
    assert str(CLEAN_FRAME[1]["event_id"]).encode() in bytes(element["payload"]), "the element, as Spark parsed it"
    found = {at[:3]: row for at, row in by_element.items() if at[3] == 0}
    assert set(found) == set(bad)
    for at, kind in bad.items():
        assert found[at]["reason"] == kind.reason, kind.name
        assert bytes(found[at]["payload"]) == kind.payload, kind.name
        assert found[at]["payload_bytes"] == len(kind.payload), kind.name


async def test_sink_rides_out_a_postgres_restart_then_stops_with_exit_0(run: Run) -> None:
    stack = run.stack
    health = f"http://127.0.0.1:{stack.ports.metrics('spark_sink')}/health"
    assert await _healthy(health)
    stack.postgres.stop()
    await eventually("sink /health fails while postgres is down", lambda: _healthy(health, want=False), 30)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap, acks="all")
    await producer.start()
    try:
        for n in AFTER_RESTART:
            await producer.send_and_wait(topics.CLEAN, _encode(clean_event(n)))
    finally:
        await producer.stop()
    stack.postgres.start()
    stack.postgres.wait_ready()
    total = (
        len(VALID_RAW)
        + len(VALID_CLEAN)
        + sum(k.outcome == "clean" for k in raw_kinds())
        + len(FRAME_GOOD)
        + len(AFTER_RESTART)
    )
    await eventually(
        "events published while postgres was down are written after it returns",
        lambda: _fetchval(stack.postgres_dsn, f"SELECT count(*) = {total} FROM records"),
        deadline_s=180,
    )
    await eventually("sink /health recovers", lambda: _healthy(health), 30)
    assert run.sink.death() is None, "the sink kept running"
    assert run.sink.proc is not None
    os.kill(run.sink.proc.pid, signal.SIGTERM)  # to the service alone, as a container runtime does
    assert run.sink.proc.wait(90) == 0, run.sink.tail(40)
