"""Exactly once through the real streaming query: Spark delivering a batch twice, and the sink dying between
the Postgres commit and Spark's checkpoint commit, leave every table as one clean delivery would.

The reference is the same events written once by `write_events` into a database of its own; the
streaming runs must match it table by table (records, availability, history, frequency)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from pyspark.sql import DataFrame

from devstack import paths, provision
from devstack.stack import Stack
from services.spark_sink.batch_writer import BatchWriter
from services.spark_sink.postgres_writer import apply_pending, staging_row, write_events
from services.spark_sink.settings import SparkSinkSettings
from services.spark_sink.stream import read_clean_topic, start_query
from shared.events import CleanEvent, EventKind, encode, event_id

pytestmark = [pytest.mark.stack, pytest.mark.spark]

T0 = datetime(2019, 1, 7, 8, 0, tzinfo=UTC)
STATIONS = ["S1", "S2", "S3", "S4"]


def clean_events(seed: int) -> list[CleanEvent]:
    """Tracked bikes riding between stations (opening stock for some) and anonymous e-bike flows."""
    rng = random.Random(seed)
    out: list[CleanEvent] = []

    def add(trip: str, kind: EventKind, minute: float, station: str, bike: str | None, rideable: str) -> None:
        out.append(
            CleanEvent(
                event_id=event_id(trip, kind),
                trip_id=trip,
                kind=kind,
                event_time=T0 + timedelta(minutes=minute),
                station_id=station,
                street=f"{station} Street",
                lat=40.7,
                lon=-74.0,
                bike_id=bike,
                rideable_type=rideable,
                source=f"test/{trip}",
            )
        )

    for bike in range(12):
        where, minute = rng.choice(STATIONS), 0.0
        if bike % 3 == 0:
            add(f"stock-{bike}", EventKind.STOCK, 0, where, str(bike), "classic_bike")
        for ride in range(rng.randint(2, 6)):
            minute += rng.uniform(0, 30)
            add(f"{bike}-{ride}", EventKind.START, minute, where, str(bike), "classic_bike")
            where, minute = rng.choice(STATIONS), minute + rng.uniform(1, 20)
            add(f"{bike}-{ride}", EventKind.END, minute, where, str(bike), "classic_bike")
    for n in range(60):
        kind = EventKind.START if n % 2 else EventKind.END
        add(f"anon-{n}", kind, rng.uniform(0, 120), rng.choice(STATIONS), None, rng.choice(["electric_bike", "x"]))
    return out


async def publish(bootstrap: str, topic: str, events: list[CleanEvent]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for e in events:
            await producer.send(topic, encode(e), key=e.station_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def snapshot(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            "records": await conn.fetchval("SELECT count(*) FROM records"),
            "availability": [
                tuple(r) for r in await conn.fetch("SELECT station_id, bikes, ebikes FROM availability ORDER BY 1")
            ],
            "history": [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT station_id, event_time, bikes, ebikes FROM availability_history ORDER BY 1, 2"
                )
            ],
            "frequency": [tuple(r) for r in await conn.fetch("SELECT minute, amount FROM frequency ORDER BY 1")],
        }
    finally:
        await conn.close()


async def reference(stack: Stack, events: list[CleanEvent]) -> dict[str, Any]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    await provision.create_database(stack.postgres.dsn_admin, name)
    dsn = stack.postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
    await provision.migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        rows = [staging_row(msgspec_dict(e)) for e in events]
        await write_events(conn, 0, rows)
    finally:
        await conn.close()
    return await snapshot(dsn)


def msgspec_dict(event: CleanEvent) -> dict[str, Any]:
    return {f: getattr(event, f) for f in event.__struct_fields__} | {"kind": event.kind.value}


class Crash(RuntimeError):
    pass


def settings_for(stack: Stack, dsn: str, checkpoint: Path) -> SparkSinkSettings:
    return SparkSinkSettings.model_validate(
        {
            "kafka_bootstrap_servers": stack.kafka.bootstrap,
            "postgres_dsn": dsn,
            "spark_jars_dir": paths.SPARK_JARS,
            "spark_checkpoint_dir": checkpoint,
            "max_offsets_per_trigger": 30,
        }
    )


async def run_query(spark: Any, settings: SparkSinkSettings, topic: str, write: Any) -> None:
    query = start_query(read_clean_topic(spark, settings, topic), write, settings, name=f"q_{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.to_thread(query.processAllAvailable)
    finally:
        query.stop()


async def test_a_batch_delivered_twice_and_a_crash_before_the_checkpoint_change_nothing_twice(
    spark: Any, stack: Stack, fresh_database: str, tmp_path: Path
) -> None:
    events = clean_events(seed=5)
    topic = f"test.clean.{uuid.uuid4().hex[:8]}"
    await provision.create_topics(stack.kafka.bootstrap, 3, names=[topic])
    await publish(stack.kafka.bootstrap, topic, events)
    expected = await reference(stack, events)
    settings = settings_for(stack, fresh_database, tmp_path / "checkpoint")
    writer = BatchWriter(fresh_database)
    calls: list[int] = []

    def twice_then_crash(batch: DataFrame, batch_id: int) -> None:
        calls.append(batch_id)
        writer(batch, batch_id)
        writer(batch, batch_id)  # Spark re-delivers the same batch
        if batch_id == 2:
            raise Crash("the sink dies after the Postgres commit, before Spark commits batch 2")

    try:
        with pytest.raises(Exception, match="Crash"):
            await run_query(spark, settings, topic, twice_then_crash)
        assert calls == [0, 1, 2]
        assert (await snapshot(fresh_database))["records"] < len(events)

        rerun: list[int] = []

        def resumed(batch: DataFrame, batch_id: int) -> None:
            rerun.append(batch_id)
            writer(batch, batch_id)

        await run_query(spark, settings, topic, resumed)
    finally:
        writer.close()
    assert rerun[0] == 2, "Spark replays the batch whose commit it never wrote"
    assert await snapshot(fresh_database) == expected
    assert expected["records"] == len(events)


async def test_a_history_half_left_undone_is_applied_later_and_tables_match_one_transaction(
    stack: Stack, fresh_database: str
) -> None:
    """The pipelined sink's two transactions: first halves committed (one while another connection runs the
    history's half), the last history half never run (a crash), then `apply_pending` at the next start."""
    events = clean_events(seed=11)
    expected = await reference(stack, events)
    rows = [staging_row(msgspec_dict(e)) for e in events]
    third = len(rows) // 3
    first, second = await asyncpg.connect(fresh_database), await asyncpg.connect(fresh_database)
    try:
        await write_events(first, 0, rows[:third], history=False)
        # Batch 0's history half on the second connection while batch 1's first half runs on the first.
        applied, _ = await asyncio.gather(
            apply_pending(second), write_events(first, 1, rows[third : 2 * third], history=False)
        )
        assert applied == [0]
        await write_events(first, 2, rows[2 * third :], history=False)
        # Not in sink_batches until their history is applied: a restart checks that table to rewrite.
        assert [r[0] for r in await first.fetch("SELECT batch_id FROM sink_batches")] == [0]
        assert [r[0] for r in await first.fetch("SELECT batch_id FROM model_pending ORDER BY 1")] == [1, 2]
        assert await apply_pending(second) == [1, 2]  # the next start
        assert await apply_pending(second) == []
        counts = await first.fetch("SELECT batch_id, events, inserted FROM sink_batches ORDER BY 1")
        assert [tuple(r) for r in counts] == [
            (0, third, third),
            (1, third, third),
            (2, len(rows) - 2 * third, len(rows) - 2 * third),
        ]
        assert await first.fetchval("SELECT count(*) FROM model_dirty") == 0
    finally:
        await first.close()
        await second.close()
    assert await snapshot(fresh_database) == expected
