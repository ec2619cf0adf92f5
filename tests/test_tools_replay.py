"""`python -m tools.replay` against the real stack: capture/restore reproduces a run (the same records,
and the sink makes the same tables from them), checkpoint and group resets, time slices, inspection,
and the refusals (truncated or foreign capture, active group, batch in flight) before anything is written."""

from __future__ import annotations

import asyncio
import csv
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devstack import paths, provision
from devstack.stack import Stack
from services.producer.trip_rows import BadRow, split_rows
from services.spark_sink.batch_writer import BatchWriter
from services.spark_sink.settings import SparkSinkSettings
from services.spark_sink.stream import read_clean_topic, start_query
from shared.events import CleanEvent, DeadLetter, EventKind, TripEvent, encode
from tests.conftest import eventually, shared_file
from tools.replay import capture_format, copy, inspect, reset
from tools.replay.capture import capture
from tools.replay.common import Exit, Refused
from tools.replay.restore import restore

pytestmark = [pytest.mark.stack]
SAMPLE = ("cocteau__Data24", "data", "citibike.csv")
IGNORED_COLUMNS = {"batch_id", "updated_at", "committed_at"}


def sample_events(rows: int) -> list[CleanEvent]:
    """Clean events of the first `rows` real trips (stations as in the file; position defaulted if missing)."""
    with shared_file(*SAMPLE).open(newline="") as f:
        lines = [line for _, line in zip(range(rows + 1), csv.reader(f), strict=False)]
    events = [e for e in split_rows(iter(lines), "s3://tripdata/citibike.csv") if not isinstance(e, BadRow)]
    return [
        CleanEvent(
            event_id=e.event_id,
            trip_id=e.trip_id,
            kind=e.kind,
            event_time=e.event_time,
            station_id=e.station_id,
            street=e.station_name or e.station_id,
            lat=e.lat or 40.7,
            lon=e.lon or -74.0,
            bike_id=e.bike_id,
            rideable_type=e.rideable_type,
            source=e.source,
        )
        for e in sorted(events, key=lambda e: (e.event_time, e.event_id))
        if e.station_id
    ]


async def produce(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes, int]], headers: bool = False
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=10)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                value,
                key=key,
                timestamp_ms=ts,
                headers=[("n", str(n).encode())] if headers and n % 7 == 0 else None,
            )
            for n, (key, value, ts) in enumerate(records)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def records_of(bootstrap: str, topic: str) -> list[tuple[Any, ...]]:
    """(partition, offset, key, value, headers, timestamp) of every record of `topic`, sorted."""
    kafka = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await kafka.start()
    out: list[tuple[Any, ...]] = []
    try:
        parts = [TopicPartition(topic, p) for p in sorted(await _partitions(kafka, topic))]
        ends = await kafka.end_offsets(parts)
        kafka.assign(parts)

        async def drained() -> bool:
            for messages in (await kafka.getmany(timeout_ms=500)).values():
                out.extend((m.partition, m.offset, m.key, m.value, tuple(m.headers), m.timestamp) for m in messages)
            positions = [await kafka.position(tp) for tp in parts]
            return all(pos >= ends[tp] for pos, tp in zip(positions, parts, strict=True))

        await eventually(f"every record of {topic}", drained)
    finally:
        await kafka.stop()
    return sorted(out)


async def _partitions(kafka: AIOKafkaConsumer, topic: str) -> set[int]:
    cluster = await kafka._client.fetch_all_metadata()
    return set(cluster.partitions_for_topic(topic) or ())


async def new_database(stack: Stack) -> str:
    name = f"t_{uuid.uuid4().hex[:10]}"
    await provision.create_database(stack.postgres.dsn_admin, name)
    dsn = stack.postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
    await provision.migrate(dsn)
    return dsn


async def tables(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the sink's schema, without the columns that name batches or wall-clock times."""
    conn = await asyncpg.connect(dsn)
    try:
        out = {}
        for table in ("records", "location", "frequency", "availability"):
            columns = [
                r["column_name"]
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                    "ORDER BY ordinal_position",
                    table,
                )
                if r["column_name"] not in IGNORED_COLUMNS
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            out[table] = [tuple(r) for r in await conn.fetch(f"SELECT {listed} FROM {table} ORDER BY {listed}")]
        return out
    finally:
        await conn.close()


async def run_sink(spark: Any, stack: Stack, topic: str, dsn: str, checkpoint: Path) -> BatchWriter:
    settings = SparkSinkSettings.model_validate(
        {
            "kafka_bootstrap_servers": stack.kafka.bootstrap,
            "postgres_dsn": dsn,
            "spark_jars_dir": paths.SPARK_JARS,
            "spark_checkpoint_dir": checkpoint,
            # These topics hold one event per record: the re-read after a reset is one batch, not 200-record ones.
            "max_offsets_per_trigger": 100_000,
        }
    )
    writer = BatchWriter(dsn)
    query = start_query(read_clean_topic(spark, settings, topic), writer, settings, name=f"q_{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.to_thread(query.processAllAvailable)
    finally:
        query.stop()
        writer.close()
    return writer


@pytest.mark.spark
async def test_restored_capture_reproduces_the_run_and_the_tables(spark: Any, stack: Stack, tmp_path: Path) -> None:
    bootstrap = stack.kafka.bootstrap
    run = uuid.uuid4().hex[:8]
    clean, letters = f"cap.clean.{run}", f"cap.dl.{run}"
    await provision.create_topics(bootstrap, 3, names=[clean, letters])
    events = sample_events(600)
    await produce(
        bootstrap,
        clean,
        [(e.station_id.encode(), encode(e), int(e.event_time.timestamp() * 1000)) for e in events],
        True,
    )
    letter = DeadLetter(stage="enricher", reason="no station", source="x", payload="{}", failed_at=datetime.now(UTC))
    await produce(bootstrap, letters, [(None, encode(letter), 1_700_000_000_000)])

    path = tmp_path / "run.capture.parquet"
    header = await capture(bootstrap, [clean, letters], path)
    assert header.records == len(events) + 1
    assert pq.ParquetFile(path).metadata.row_group(0).column(6).compression == "ZSTD"
    restored = await restore(bootstrap, path, {clean: f"{clean}.restored", letters: f"{letters}.restored"})
    assert restored.records == header.records
    original, again = await records_of(bootstrap, clean), await records_of(bootstrap, f"{clean}.restored")
    assert len(original) == len(events)
    assert again == original  # partition, offset, key, value, headers, timestamp: all of them

    first_db, second_db = await new_database(stack), await new_database(stack)
    await run_sink(spark, stack, clean, first_db, tmp_path / "ck1")
    checkpoint = tmp_path / "ck2"
    await run_sink(spark, stack, f"{clean}.restored", second_db, checkpoint)
    expected = await tables(first_db)
    assert len(expected["records"]) == len(events)
    assert await tables(second_db) == expected

    # Reset the restored run's sink to the middle of the data: a dry run changes nothing, then the
    # query re-reads from there (one more committed batch) and the tables stay the same.
    middle = events[len(events) // 2].event_time
    before = sorted(p.name for p in (checkpoint / "offsets").iterdir())
    moves = await reset.reset_checkpoint(bootstrap, checkpoint, f"{clean}.restored", middle, True, quiet_s=0)
    assert sorted(p.name for p in (checkpoint / "offsets").iterdir()) == before
    later = sum(1 for e in events if e.event_time >= middle)
    assert sum(m.current - m.target for m in moves if m.current is not None) == later
    unfinished = tmp_path / "unfinished"
    shutil.copytree(checkpoint, unfinished)
    (unfinished / "commits" / str(reset.latest_batch(unfinished / "commits"))).unlink()  # beside it: .N.crc files
    with pytest.raises(Refused) as refused:
        await reset.reset_checkpoint(bootstrap, unfinished, f"{clean}.restored", middle, False, quiet_s=0)
    assert refused.value.code == Exit.UNSAFE
    await reset.reset_checkpoint(bootstrap, checkpoint, f"{clean}.restored", middle, False, quiet_s=0)
    writer = await run_sink(spark, stack, f"{clean}.restored", second_db, checkpoint)
    assert writer.last is not None
    assert writer.last.events == later
    assert writer.last.inserted == 0
    assert await tables(second_db) == expected


async def test_truncated_or_foreign_captures_are_refused_before_writing(stack: Stack, tmp_path: Path) -> None:
    bootstrap = stack.kafka.bootstrap
    run = uuid.uuid4().hex[:8]
    topic = f"cap.small.{run}"
    await provision.create_topics(bootstrap, 2, names=[topic])
    await produce(
        bootstrap, topic, [(f"k{n}".encode(), b"v" * 500 + bytes([n]), 1_700_000_000_000 + n) for n in range(200)]
    )
    good = tmp_path / "good.parquet"
    await capture(bootstrap, [topic], good)

    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "v2.parquet"
    footer = dict(pq.ParquetFile(good).metadata.metadata)  # our header lives in the file's footer
    footer[capture_format.METADATA_KEY] = footer[capture_format.METADATA_KEY].replace(b'"version": 1', b'"version": 2')
    pq.write_table(pq.read_table(good).replace_schema_metadata(footer), foreign)
    for path, words in ((truncated, "truncated"), (foreign, "version 2")):
        with pytest.raises(Refused, match=words) as refused:
            await restore(bootstrap, path, {topic: f"{topic}.{path.stem}"})
        assert refused.value.code == Exit.BAD_INPUT
    kafka = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await kafka.start()
    try:
        assert not any(t.startswith(f"{topic}.") for t in await kafka.topics())  # nothing was created
    finally:
        await kafka.stop()
    with pytest.raises(Refused, match="already holds records") as refused:
        await restore(bootstrap, good)
    assert refused.value.code == Exit.UNSAFE

    command = [sys.executable, "-m", "tools.replay", "--bootstrap", bootstrap, "restore", str(truncated)]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, cwd=paths.ROOT, check=False)
    assert done.returncode == Exit.BAD_INPUT, done.stderr
    assert "truncated" in done.stderr


async def test_copy_slices_by_kafka_time_or_event_time_and_paces(stack: Stack) -> None:
    bootstrap = stack.kafka.bootstrap
    run = uuid.uuid4().hex[:8]
    source = f"copy.src.{run}"
    await provision.create_topics(bootstrap, 3, names=[source])
    t0 = datetime(2024, 9, 1, 12, tzinfo=UTC)
    # Kafka time runs forward while event time runs backward, so the two slices pick different records.
    events = [
        TripEvent(
            event_id=f"e{n}",
            trip_id=f"t{n}",
            kind=EventKind.START,
            event_time=t0 + timedelta(seconds=59 - n),
            station_id=f"S{n % 4}",
            source=f"test#{n}",
        )
        for n in range(60)
    ]
    kafka_ms = [int((t0 + timedelta(seconds=n)).timestamp() * 1000) for n in range(60)]
    await produce(
        bootstrap,
        source,
        [
            (e.station_id.encode() if e.station_id else None, encode(e), ms)
            for e, ms in zip(events, kafka_ms, strict=True)
        ],
    )
    since, until = t0 + timedelta(seconds=10), t0 + timedelta(seconds=20)

    by_kafka = await copy.copy_topic(bootstrap, source, f"{source}.k", since=since, until=until)
    assert by_kafka.copied == 10
    by_event = await copy.copy_topic(bootstrap, source, f"{source}.e", since=since, until=until, clock="event-time")
    assert (by_event.copied, by_event.outside_range) == (10, 50)
    copied_k = {r[3] for r in await records_of(bootstrap, f"{source}.k")}
    copied_e = {r[3] for r in await records_of(bootstrap, f"{source}.e")}
    assert copied_k == {
        encode(e)
        for e, ms in zip(events, kafka_ms, strict=True)
        if since.timestamp() * 1000 <= ms < until.timestamp() * 1000
    }
    assert copied_e == {encode(e) for e in events if since <= e.event_time < until}

    started = time.monotonic()
    paced = await copy.copy_topic(bootstrap, source, f"{source}.p", until=t0 + timedelta(seconds=4), speed=2)
    assert paced.copied == 4
    assert time.monotonic() - started >= 1.4  # 3 s of data at 2x


async def test_inspect_and_group_reset(stack: Stack) -> None:
    bootstrap = stack.kafka.bootstrap
    run = uuid.uuid4().hex[:8]
    letters, clean = f"insp.dl.{run}", f"insp.clean.{run}"
    await provision.create_topics(bootstrap, 3, names=[letters, clean])
    now = datetime.now(UTC)
    reasons = (
        [("producer", "unparseable time 'x1'")] * 5
        + [("producer", "unparseable time 'x2'")] * 2
        + [("enricher", "no station")] * 3
    )
    await produce(
        bootstrap,
        letters,
        [
            (
                None,
                encode(DeadLetter(stage=s, reason=r, source=f"s#{n}", payload="p", failed_at=now)),
                1_700_000_000_000,
            )
            for n, (s, r) in enumerate(reasons)
        ]
        + [(None, b"not json", 1_700_000_000_000)],
    )
    groups = await inspect.dead_letters(bootstrap, letters, examples=2)
    assert [(g.stage, g.reason, g.count, len(g.examples)) for g in groups] == [
        ("producer", "unparseable time", 7, 2),
        ("enricher", "no station", 3, 2),
        ("?", "not a DeadLetter record", 1, 1),
    ]

    events = sample_events(300)
    await produce(
        bootstrap, clean, [(e.station_id.encode(), encode(e), int(e.event_time.timestamp() * 1000)) for e in events]
    )
    station = Counter(e.station_id for e in events).most_common(1)[0][0]
    history, unreadable = await inspect.station_history(bootstrap, station, clean)
    assert unreadable == 0
    assert [(h.event_time, h.kind, h.event_id) for h in history] == [
        (e.event_time, e.kind.value, e.event_id) for e in events if e.station_id == station
    ]

    group = f"insp.group.{run}"
    member = AIOKafkaConsumer(
        clean, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await member.start()
    try:
        await eventually("the member joined", lambda: _has_assignment(member))
        await member.getmany(timeout_ms=1000)
        await member.commit()
        with pytest.raises(Refused, match="is active") as refused:
            await reset.reset_group(bootstrap, group, clean, events[0].event_time, dry_run=True)
        assert refused.value.code == Exit.UNSAFE
    finally:
        await member.stop()
    lag_rows = [r for r in await inspect.lags(bootstrap) if r.consumer == group]
    assert sum(r.end for r in lag_rows) == len(events)
    committed_before = {r.partition: r.position for r in lag_rows}

    middle = events[len(events) // 2].event_time
    await reset.reset_group(bootstrap, group, clean, middle, dry_run=True)
    assert {r.partition: r.position for r in await inspect.lags(bootstrap) if r.consumer == group} == committed_before
    await reset.reset_group(bootstrap, group, clean, middle, dry_run=False)
    after = [r for r in await inspect.lags(bootstrap) if r.consumer == group]
    assert sum(r.lag or 0 for r in after) == sum(1 for e in events if e.event_time >= middle)


async def _has_assignment(member: AIOKafkaConsumer) -> bool:
    await member.getmany(timeout_ms=200)
    return bool(member.assignment())
