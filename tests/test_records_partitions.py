"""Records partitioned by month (migration 0060) on a real Postgres: the migration keeps every row, the
sink's role makes the month partitions it needs (across a month boundary, two writers racing for one
month), the web's role reads them, and dropping old months keeps the dedup guarantee for the months kept
while an event older than the horizon is quarantined, never inserted again (also when the drop commits
while a batch waits, and through the real streaming query on framed records).

Expected rows and months are computed here from the events the test writes, not read from the code."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from devstack import provision
from devstack.stack import Stack
from services.spark_sink import quarantine, records_retention
from services.spark_sink.batch_writer import BatchWriter
from services.spark_sink.postgres_writer import staging_row, write_events
from shared.events import CleanEvent, EventKind, encode, event_id
from shared.frames import join
from shared.schema import apply_migrations, migrations
from tests.test_availability_exactly_once import msgspec_dict, run_query, settings_for

pytestmark = pytest.mark.stack

NEW_YORK = ZoneInfo("America/New_York")
COLUMNS = "event_id, event_time, kind, bike_id, station_id, lat, lon, trip_id, batch_id, rideable_type, count"


def event(
    n: int, at: datetime, kind: str = "end", station: str = "A", bike: str | None = None, offset: int | None = None
) -> tuple[object, ...]:
    """A staged event; with `offset`, it came from the clean topic's partition 0 at that offset."""
    return staging_row(
        {
            "topic": None if offset is None else "bikeshare.trips.clean",
            "partition": None if offset is None else 0,
            "offset": offset,
            "frame_index": None if offset is None else 0,
            "event_id": str(uuid.UUID(int=n)),
            "event_time": at.isoformat(),
            "kind": kind,
            "bike_id": bike,
            "station_id": station,
            "street": f"Street {station}",
            "lat": 40.7,
            "lon": -73.9,
            "trip_id": f"trip-{n}",
            "rideable_type": None,
            "count": 1,
        }
    )


def month_name(at: datetime) -> str:
    utc = at.astimezone(UTC)
    return f"records_{utc.year:04d}_{utc.month:02d}"


def as_role(dsn: str, role: str) -> str:
    return dsn.replace("postgres@", f"{role}@", 1)


async def partition_names(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'records'::regclass ORDER BY 1"
    )
    return [r["relname"] for r in rows]


async def placement(conn: asyncpg.Connection) -> dict[uuid.UUID, str]:
    """Each event id and the partition its row is stored in."""
    rows = await conn.fetch("SELECT event_id, tableoid::regclass::text AS part FROM records")
    return {r["event_id"]: r["part"] for r in rows}


@pytest.fixture
async def bare_database(stack: Stack) -> AsyncIterator[str]:
    """A new database with no migration applied."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    await provision.create_database(stack.postgres.dsn_admin, name)
    yield stack.postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(stack.postgres.dsn_admin)
    try:
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def test_the_migration_keeps_every_row_in_its_utc_month(bare_database: str) -> None:
    conn = await asyncpg.connect(bare_database)
    try:
        # The schema as it was before 0060, the way apply_migrations applies it.
        await conn.execute("CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL)")
        for m in migrations():
            if m.version < 60:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", m.version, m.name)
        # Rows of every shape over three months, two of them on New York evenings that are already the
        # next UTC month (partitions are UTC months whatever the session's time zone).
        times = [
            datetime(2019, 1, 15, 12, 0, tzinfo=UTC),
            datetime(2019, 1, 31, 20, 30, tzinfo=NEW_YORK),  # 2019-02-01 01:30 UTC
            datetime(2019, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(2019, 3, 31, 22, 0, tzinfo=NEW_YORK),  # 2019-04-01 02:00 UTC
        ]
        rows = [
            (uuid.UUID(int=n), at, kind, bike, f"S{n % 3}", 40.7 + n / 1000, -73.9, f"trip-{n}", n // 4, ride, count)
            for n, (at, kind, bike, ride, count) in enumerate(
                (at, kind, bike, ride, count)
                for at in times
                for kind, bike, ride, count in [
                    ("start", "b1", "classic_bike", 1),
                    ("end", None, "electric_bike", 1),
                    ("stock", None, None, 3),
                ]
            )
        ]
        await conn.execute("SET timezone = 'America/New_York'")
        await conn.executemany(
            f"INSERT INTO records ({COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 12))})", rows
        )

        applied = await apply_migrations(conn)

        assert 60 in applied
        assert await conn.fetchval("SELECT relkind FROM pg_class WHERE oid = 'records'::regclass") == b"p"
        kept = await conn.fetch(f"SELECT {COLUMNS} FROM records ORDER BY event_id")
        assert [tuple(r) for r in kept] == rows
        assert await partition_names(conn) == sorted({month_name(r[1]) for r in rows})
        assert month_name(times[1]) == "records_2019_02"  # the New York evening of January 31
        assert await placement(conn) == {r[0]: month_name(r[1]) for r in rows}
        # The indexes and constraints are there, on the table and on every partition (migration 0080 has
        # dropped records_station since).
        indexes = {
            r["indexname"] for r in await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'records'")
        }
        assert indexes == {"records_pkey", "records_station_time_anonymous"}
        assert await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE tablename = 'records_2019_02'") == 2
        insert = f"INSERT INTO records ({COLUMNS}) VALUES (gen_random_uuid(), $1, $2, NULL, 'S', 0, 0, 't', 0, NULL, 1)"
        with pytest.raises(asyncpg.CheckViolationError, match="records_kind_check"):
            await conn.execute(insert, times[0], "lost")
        with pytest.raises(asyncpg.CheckViolationError, match="no partition"):  # no DEFAULT partition
            await conn.execute(insert, datetime(2030, 1, 1, tzinfo=UTC), "end")
        # A migrated event sent again is recognised as a duplicate.
        again = await write_events(conn, 99, [event(1, times[0], kind="end")])
        assert again.inserted == 0
    finally:
        await conn.close()


async def test_the_sinks_role_makes_the_months_it_needs_and_the_webs_role_reads_them(
    stack: Stack, fresh_database: str
) -> None:
    sink = await asyncpg.connect(as_role(fresh_database, provision.SINK_ROLE))
    web = await asyncpg.connect(as_role(fresh_database, provision.WEB_ROLE))
    try:
        last_of_january = datetime(2019, 1, 31, 23, 59, 59, tzinfo=UTC)
        first_of_february = datetime(2019, 2, 1, tzinfo=UTC)
        batch = [event(1, last_of_january, bike="b1"), event(2, first_of_february, "start", "B", "b1")]
        assert (await write_events(sink, 0, batch)).inserted == 2
        # Spark delivers the batch again with one event of a new month: only that one is new.
        march = event(3, datetime(2019, 3, 1, 4, 0, tzinfo=NEW_YORK), station="B")
        assert (await write_events(sink, 1, [*batch, march])).inserted == 1
        assert await partition_names(sink) == ["records_2019_01", "records_2019_02", "records_2019_03"]
        expected = {
            uuid.UUID(int=1): "records_2019_01",
            uuid.UUID(int=2): "records_2019_02",
            uuid.UUID(int=3): "records_2019_03",
        }
        assert await placement(sink) == expected
        assert await web.fetchval("SELECT count(*) FROM records") == 3
        assert await web.fetchval("SELECT count(*) FROM records_2019_03") == 1  # a partition read directly
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.fetchval("SELECT records_ensure_partitions(array['2019-04-01'::timestamptz])")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await sink.fetchval("SELECT records_drop_before('2019-02-01')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await sink.execute("UPDATE records_horizon SET kept_from = NULL")
    finally:
        await sink.close()
        await web.close()


async def test_two_writers_racing_for_a_new_month_make_it_once(fresh_database: str) -> None:
    dsn = as_role(fresh_database, provision.SINK_ROLE)
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    may = datetime(2019, 5, 10, tzinfo=UTC)
    try:
        transaction = first.transaction()
        await transaction.start()
        await write_events(first, 0, [event(1, may)])  # makes records_2019_05, not yet committed
        racing = asyncio.create_task(write_events(second, 1, [event(2, may + timedelta(days=1))]))

        async def waiting() -> bool:
            state = await first.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", second.get_server_pid()
            )
            return bool(state == "Lock")

        deadline = asyncio.get_running_loop().time() + 30
        while not await waiting():
            assert not racing.done(), "the second writer did not wait for the first one's new partition"
            assert asyncio.get_running_loop().time() < deadline, "the second writer never waited"
            await asyncio.sleep(0.05)
        await transaction.commit()
        assert (await asyncio.wait_for(racing, 30)).inserted == 1
        assert await partition_names(first) == ["records_2019_05"]
        assert await first.fetchval("SELECT count(*) FROM records_2019_05") == 2
    finally:
        await first.close()
        await second.close()


async def test_a_records_drop_committed_while_a_batch_waits_is_not_missed(fresh_database: str) -> None:
    owner = await asyncpg.connect(fresh_database)
    sink = await asyncpg.connect(as_role(fresh_database, provision.SINK_ROLE))
    try:
        await write_events(sink, 0, [event(1, datetime(2019, 3, 5, tzinfo=UTC))])
        dropping = owner.transaction()
        await dropping.start()
        await owner.fetchval("SELECT records_drop_before('2019-03-01Z')")  # holds Records until it commits
        # February never had a partition: the batch must wait for the drop, then see its horizon.
        february = asyncio.create_task(write_events(sink, 1, [event(2, datetime(2019, 2, 10, tzinfo=UTC))]))

        async def sink_waits() -> bool:
            state = await owner.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", sink.get_server_pid()
            )
            return bool(state == "Lock")

        deadline = asyncio.get_running_loop().time() + 30
        while not await sink_waits():
            assert not february.done(), "the batch did not wait for the running records-drop"
            assert asyncio.get_running_loop().time() < deadline, "the batch never waited"
            await asyncio.sleep(0.05)
        await dropping.commit()
        with pytest.raises(asyncpg.CheckViolationError, match="events from 2019-03 on"):
            await asyncio.wait_for(february, 30)
        assert await partition_names(owner) == ["records_2019_03"]
    finally:
        await owner.close()
        await sink.close()


async def test_dropping_old_months_keeps_the_guarantee_for_the_months_kept(
    fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    months = [datetime(2019, m, 10, tzinfo=UTC) for m in (1, 2, 3)]
    written = [
        event(10 * i + k, at + timedelta(hours=k), station="ABC"[k]) for i, at in enumerate(months) for k in range(3)
    ]
    sink = await asyncpg.connect(as_role(fresh_database, provision.SINK_ROLE))
    try:
        assert (await write_events(sink, 0, written)).inserted == 9

        # Keep 2 months up to the data clock (March): January goes, through the command.
        assert await asyncio.to_thread(records_retention.main, ["--dsn", fresh_database, "--keep-months", "2"]) == 0
        assert "dropped 1 partition(s): records_2019_01; horizon 2019-02" in capsys.readouterr().out
        assert await partition_names(sink) == ["records_2019_02", "records_2019_03"]
        assert sorted(await placement(sink)) == sorted(uuid.UUID(int=n) for n in (10, 11, 12, 20, 21, 22))

        # Within the horizon duplicates are still recognised.
        assert (await write_events(sink, 1, written[3:])).inserted == 0
        # Before it, an event without Kafka coordinates is refused with a class-23 error naming the
        # horizon, so the batch writer's rule for records Postgres refuses applies (quarantine.py).
        with pytest.raises(asyncpg.CheckViolationError, match="older than the dedup horizon") as refused:
            await write_events(sink, 2, [written[0]])
        assert isinstance(refused.value, quarantine.POISON)
    finally:
        await sink.close()

    # Through the batch writer (its rows carry their coordinates): a replayed January event is
    # quarantined with its offset, the rest of its batch written.
    rows = [
        event(11, months[1] + timedelta(hours=1), station="B", offset=100),  # a duplicate of a kept event
        event(0, months[0], offset=101),  # January: older than the horizon
        event(40, datetime(2019, 4, 2, tzinfo=UTC), offset=102),
    ]
    coordinates = [("bikeshare.trips.clean", 0, offset, 0) for offset in (100, 101, 102)]
    writer = BatchWriter(as_role(fresh_database, provision.SINK_ROLE), retry_deadline_s=5)
    try:
        # The writer's own entry point takes a Spark DataFrame; this is its Postgres half.
        result = writer._run(writer._write_with_retries(3, rows, coordinates, []))
        again = writer._run(writer._write_with_retries(3, rows, coordinates, []))  # Spark reruns it
    finally:
        writer.close()
    assert (result.events, result.inserted, result.expired) == (3, 1, 1)
    assert (again.inserted, again.expired) == (0, 1)
    conn = await asyncpg.connect(fresh_database)
    try:
        held = await conn.fetch("SELECT kafka_offset, reason, payload FROM sink_quarantine")
        assert [r["kafka_offset"] for r in held] == [101]
        assert json.loads(held[0]["payload"])["event_id"] == str(uuid.UUID(int=0))
        assert "event time in 2019-01 is older than the dedup horizon" in held[0]["reason"]
        assert await conn.fetchval("SELECT count(*) FROM records WHERE event_time < '2019-02-01Z'") == 0
        assert await partition_names(conn) == ["records_2019_02", "records_2019_03", "records_2019_04"]
        # The horizon never moves back: an earlier --before drops nothing and keeps 2019-02.
        assert await asyncio.to_thread(records_retention.main, ["--dsn", fresh_database, "--before", "2018-06"]) == 0
        assert await conn.fetchval("SELECT kept_from FROM records_horizon") == datetime(2019, 2, 1, tzinfo=UTC)
    finally:
        await conn.close()


@pytest.mark.spark
async def test_the_streaming_sink_quarantines_events_older_than_the_horizon(
    spark: Any, stack: Stack, fresh_database: str, tmp_path: Path
) -> None:
    """The real query on frames of events: each event's Kafka coordinates and frame index reach the staged
    rows (Arrow columns), so the expired events are quarantined naming exactly where they were, while
    the rest of each batch is written."""

    def clean(n: int, at: datetime) -> CleanEvent:
        trip = f"horizon-{n}"
        return CleanEvent(
            event_id=event_id(trip, EventKind.END),
            trip_id=trip,
            kind=EventKind.END,
            event_time=at,
            station_id=f"S{n % 3}",
            street="Street",
            lat=40.7,
            lon=-74.0,
            source=f"test/{trip}",
        )

    january = [clean(n, datetime(2019, 1, 20, tzinfo=UTC) + timedelta(minutes=n)) for n in range(20)]
    february = [clean(100 + n, datetime(2019, 2, 20, tzinfo=UTC) + timedelta(minutes=n)) for n in range(20)]
    march = [clean(200 + n, datetime(2019, 3, 20, tzinfo=UTC) + timedelta(minutes=n)) for n in range(20)]
    conn = await asyncpg.connect(fresh_database)
    try:
        await write_events(conn, 0, [staging_row(msgspec_dict(e)) for e in january + february])
        assert await conn.fetchval("SELECT records_drop_before('2019-02-01Z')") == ["records_2019_01"]
    finally:
        await conn.close()

    topic = f"test.clean.{uuid.uuid4().hex[:8]}"
    await provision.create_topics(stack.kafka.bootstrap, 3, names=[topic])
    resent = january + february + march  # a replay of everything, plus March for the first time
    random.Random(3).shuffle(resent)
    # Frames of 10 events (shared/frames.py), frame k on partition k % 3: where each event sits is known.
    frames = [resent[n : n + 10] for n in range(0, len(resent), 10)]
    where = {e.event_id: (k % 3, k // 3, i) for k, frame in enumerate(frames) for i, e in enumerate(frame)}
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap, acks="all")
    await producer.start()
    try:
        for k, frame in enumerate(frames):
            await producer.send_and_wait(topic, join([encode(e) for e in frame]), partition=k % 3)
    finally:
        await producer.stop()
    writer = BatchWriter(as_role(fresh_database, provision.SINK_ROLE))
    try:
        await run_query(spark, settings_for(stack, fresh_database, tmp_path / "checkpoint"), topic, writer)
    finally:
        writer.close()

    conn = await asyncpg.connect(fresh_database)
    try:
        held = await conn.fetch(
            "SELECT kafka_partition, kafka_offset, frame_index, reason, payload FROM sink_quarantine WHERE topic = $1",
            topic,
        )
        assert {
            json.loads(r["payload"])["event_id"]: (r["kafka_partition"], r["kafka_offset"], r["frame_index"])
            for r in held
        } == {e.event_id: where[e.event_id] for e in january}
        assert all("older than the dedup horizon" in r["reason"] for r in held)
        stored = {str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM records")}
        assert stored == {e.event_id for e in february + march}
        assert await conn.fetchval("SELECT count(*) FROM records") == len(february) + len(march)
    finally:
        await conn.close()
