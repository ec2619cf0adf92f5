"""The real streaming query (Kafka connector, foreachBatch) on the shared SparkSession, driven with
processAllAvailable(): clean events in a topic of its own end up in Postgres exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from devstack import paths, provision
from devstack.stack import Stack
from services.spark_sink.batch_writer import BatchWriter
from services.spark_sink.settings import SparkSinkSettings
from services.spark_sink.stream import read_clean_topic, start_query
from shared.events import CleanEvent, EventKind, encode, event_id

pytestmark = [pytest.mark.stack, pytest.mark.spark]


def clean_events(count: int) -> list[CleanEvent]:
    start = datetime(2024, 9, 1, 8, 0, tzinfo=UTC)
    return [
        CleanEvent(
            event_id=event_id(f"trip-{n // 2}", EventKind.START if n % 2 == 0 else EventKind.END),
            trip_id=f"trip-{n // 2}",
            kind=EventKind.START if n % 2 == 0 else EventKind.END,
            event_time=start + timedelta(seconds=7 * n),
            station_id=f"S{n % 5}",
            street=f"{n % 5} Ave",
            lat=40.7 + (n % 5) / 100,
            lon=-73.95,
            bike_id=str(n // 2),
            source=f"test#{n}",
        )
        for n in range(count)
    ]


def pill(**changes: object) -> bytes:
    """A clean event as JSON with fields changed (or removed, with None meaning JSON null)."""
    doc = msgspec.to_builtins(clean_events(1)[0])
    doc["event_id"] = str(uuid.uuid4())
    doc.update(changes)
    return json.dumps(doc).encode()


POISON_PILLS: list[tuple[bytes, str]] = [
    (b"not json", "not a CleanEvent (unparseable JSON or no event_id)"),
    (pill(street="Broadway\u0000& W 4 St"), "street has a control character"),
    (pill(station_id="9" * 5000), "station_id is longer than 32 characters"),
    (pill(event_id="not-a-uuid"), "event_id is not a UUID"),
    (pill(event_time=None), "event_time is missing"),
    (pill(event_time="yesterday"), "event_time is not an ISO 8601 time"),
    (pill(lat=None), "lat or lon is missing"),
    (pill(lon=1e300), "lon is not a longitude"),
    (pill(kind="teleport"), "kind is not one of start, end, stock"),
    (pill(street="x" * 101), "street is longer than 100 characters"),
]
"""Records the sink must quarantine with exactly this reason while the rest of the batch goes on."""


async def publish(bootstrap: str, topic: str, events: list[CleanEvent], extra: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(topic, encode(e), key=e.station_id.encode())
        for raw in extra:
            await producer.send_and_wait(topic, raw)
    finally:
        await producer.stop()


async def test_query_writes_every_clean_event_once(
    spark: Any, stack: Stack, fresh_database: str, tmp_path: Path
) -> None:
    topic = f"test.clean.{uuid.uuid4().hex[:8]}"
    await provision.create_topics(stack.kafka.bootstrap, 3, names=[topic])
    events = clean_events(300)
    # A duplicate delivery and poison pills must not change the counts, nor stop the query.
    await publish(stack.kafka.bootstrap, topic, events + events[:10], [pill for pill, _ in POISON_PILLS])
    settings = SparkSinkSettings.model_validate(
        {
            "kafka_bootstrap_servers": stack.kafka.bootstrap,
            "postgres_dsn": fresh_database,
            "spark_jars_dir": paths.SPARK_JARS,
            "spark_checkpoint_dir": tmp_path / "checkpoint",
        }
    )
    writer = BatchWriter(fresh_database)
    query = start_query(read_clean_topic(spark, settings, topic), writer, settings, name=f"q_{topic[-8:]}")
    try:
        await asyncio.to_thread(query.processAllAvailable)
    finally:
        query.stop()
        writer.close()
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM records") == 300
        # Each bike rides once and then stands where it arrived (bike tracking); a trip counts once.
        arrivals = Counter(e.station_id for e in events if e.kind is EventKind.END)
        rows = await conn.fetch("SELECT station_id, bikes FROM availability")
        assert {r["station_id"]: r["bikes"] for r in rows} == {e.station_id: arrivals[e.station_id] for e in events}
        assert await conn.fetchval("SELECT sum(amount) FROM frequency") == 150
        quarantined = await conn.fetch(
            "SELECT kafka_offset, reason, payload, topic FROM sink_quarantine ORDER BY kafka_partition, kafka_offset"
        )
        assert sorted((bytes(r["payload"]), r["reason"]) for r in quarantined) == sorted(POISON_PILLS)
        assert {r["topic"] for r in quarantined} == {topic}
    finally:
        await conn.close()
