"""The Spark preprocessing job on real SeaweedFS S3 (s3a) and the shared SparkSession.

* Every real sample file (two eras, NYC and Jersey City) becomes Parquet whose events, read by the
  producer's Parquet source, are exactly the events the producer makes from the CSV: same ids,
  fields, `source` and order. Trip counts, event ids and partitions are also computed here from
  the files with the csv module alone.
* New York -> UTC around every DST change of 2015-2024 agrees with the producer's zoneinfo rules.
* Bad rows land in the rejects folder with their reason; a non-trip file is reported; a rerun
  replaces its partitions (same rows, no duplicates, no stale rejects).
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from aiobotocore.session import get_session
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack.stack import BUCKET, Stack
from services.producer.parquet_source import parquet_events
from services.producer.replay import order_events
from services.producer.row_reader import Plausible, read_document
from services.producer.trip_rows import BadRow, parse_time, trip_times
from services.spark_sink.preprocess import columns, job
from services.spark_sink.preprocess.s3a import configure_s3a
from shared import topics
from shared.events import EVENT_NAMESPACE, TripEvent, field_names
from tests.conftest import event_messages, eventually, shared_file
from tests.producer_runs import producer_env, run_producer

pytestmark = [pytest.mark.stack, pytest.mark.spark]

REAL_FILES = {
    "201801-1-citibike-tripdata.csv": ("EDA-GRUPO-5__EDA-2020-20-Reto-4-SEC-4-Grupo-5", "Data"),
    "201801-2-citibike-tripdata.csv": ("EDA-GRUPO-5__EDA-2020-20-Reto-4-SEC-4-Grupo-5", "Data"),
    "JC-201901-citibike-tripdata.csv": ("eveshi__postpandemic-citi-bike-usage",),
    "JC-202102-citibike-tripdata.csv": ("eveshi__postpandemic-citi-bike-usage",),
    "citibike.csv": ("cocteau__Data24", "data"),
}
# A file of the 2017-2021 era with one bad row of each kind, and trips across the autumn clock change.
BAD_AND_DST = (
    '"tripduration","starttime","stoptime","start station id","start station name","start station latitude",'
    '"start station longitude","end station id","end station name","end station latitude",'
    '"end station longitude","bikeid","usertype","birth year","gender"\n'
    '600,"2018-11-04 01:50:00.0000","2018-11-04 01:10:00.0000",72,"A",40.7,-73.9,79,"B",40.7,-73.9,1,"S",1990,1\n'
    '600,"2018-03-11 01:55:00.0000","2018-03-11 03:05:00.0000",72,"A",40.7,-73.9,79,"B",NA,0,2,"S",1990,1\n'
    "\n"
    '600,"2018-07-01 10:00:00.0000","2018-07-01 10:10:00.0000",72,"A",40.7\n'
    '600,"yesterday","2018-07-01 10:10:00.0000",72,"A",40.7,-73.9,79,"B",40.7,-73.9,3,"S",1990,1\n'
    '600,"2018-07-01 10:00:00.0000","2018-07-01 09:10:00.0000",72,"A",40.7,-73.9,79,"B",40.7,-73.9,4,"S",1990,1\n'
    '600,"2018-07-01 10:00:00.0000","2018-07-01 10:10:00.0000",72,"A",north,-73.9,79,"B",40.7,-73.9,5,"S",1990,1\n'
    '600,"2018-07-01 10:00:00.0000","2018-07-01 10:20:00.0000",72,"A",40.7,-73.9,79,"B",40.7,-73.9,,"S",1990,1\n'
)
BAD_REASONS = {
    5: "malformed CSV row",
    6: "unparseable time",
    7: "ends before it starts",
    8: "unparseable coordinate",
}


def real_file(name: str) -> Path:
    return shared_file(*REAL_FILES[name], name)


async def upload(stack: Stack, objects: dict[str, bytes]) -> None:
    async with get_session().create_client(
        "s3",
        endpoint_url=stack.s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id=stack.access_key,
        aws_secret_access_key=stack.secret_key,
    ) as s3:
        for key, body in objects.items():
            await s3.put_object(Bucket=BUCKET, Key=key, Body=body)


async def download_all(stack: Stack, prefix: str, suffix: str) -> dict[str, bytes]:
    async with get_session().create_client(
        "s3",
        endpoint_url=stack.s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id=stack.access_key,
        aws_secret_access_key=stack.secret_key,
    ) as s3:
        keys = []
        async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(suffix)]
        out = {}
        for key in sorted(keys):
            response = await s3.get_object(Bucket=BUCKET, Key=key)
            async with response["Body"] as body:
                out[key] = await body.read()
        return out


@pytest.fixture
def s3a_spark(spark: Any, stack: Stack) -> Any:
    configure_s3a(spark, stack.s3.endpoint, stack.access_key, stack.secret_key)
    return spark


def csv_path_events(key: str, data: bytes) -> list[TripEvent]:
    """What the producer makes of the same object (its own CSV reader and checks)."""
    items = read_document(f"s3://{BUCKET}/{key}", io.BytesIO(data), Plausible())
    return [e for e in items if not isinstance(e, BadRow)]


def independent_trips(path: Path) -> list[tuple[str, datetime]]:
    """(trip id, New York start) per row, from the csv module alone (the files' rows are all valid)."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        trips = []
        for row in csv.DictReader(f):
            start_text = (row.get("started_at") or row["starttime"]).strip()
            trip = row.get("ride_id") or f"bike:{row['bikeid'].strip()}@{start_text}"
            start = datetime.fromisoformat(start_text)
            end = datetime.fromisoformat((row.get("ended_at") or row["stoptime"]).strip())
            if end >= start:  # no sample trip crosses a clock change
                trips.append((trip, start))
        return trips


async def test_parquet_replays_exactly_the_csv_events(s3a_spark: Any, stack: Stack, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    objects = {f"pp-{run}/raw/{name}": real_file(name).read_bytes() for name in REAL_FILES}
    await upload(stack, objects)
    summary = job.run(
        s3a_spark, f"s3a://{BUCKET}/pp-{run}/raw/", f"s3a://{BUCKET}/pp-{run}/trips", f"s3a://{BUCKET}/pp-{run}/rej"
    )

    parquet_files = await download_all(stack, f"pp-{run}/trips/", ".parquet")
    from_parquet = [e for key, data in parquet_files.items() for e in parquet_events(data, key)]
    from_csv = [e for key, data in objects.items() for e in csv_path_events(key, data)]
    assert len(from_parquet) == len(from_csv) == summary.events
    assert order_events(from_parquet) == order_events(from_csv)  # every field, source included, same order

    # Independently of any project code: trips, event ids and year/month/file partitions.
    trips = {name: independent_trips(real_file(name)) for name in REAL_FILES}
    assert summary.trips == sum(len(t) for t in trips.values())
    expected_ids = {
        str(uuid.uuid5(EVENT_NAMESPACE, f"{trip}/{kind}"))
        for t in trips.values()
        for trip, _ in t
        for kind in ("start", "end")
    }
    assert {e.event_id for e in from_parquet} == expected_ids
    expected_partitions = {f"year={s.year}/month={s.month}/file={name}" for name, t in trips.items() for _, s in t}
    assert set(summary.partitions) == expected_partitions
    assert {key.split("/trips/")[1].rsplit("/", 1)[0] for key in parquet_files} == expected_partitions

    # Each file: the TripEvent columns with spark_ddl's types, sorted by (event_time, event_id).
    for data in parquet_files.values():
        table = pq.read_table(io.BytesIO(data))
        assert tuple(table.column_names) == field_names(TripEvent)
        order = list(zip(table["event_time"].to_pylist(), table["event_id"].to_pylist(), strict=True))
        assert order == sorted(order)
    assert summary.rejected_rows == 4  # JC-202102's four trips that end before they start, as the producer says
    assert summary.rejected_by_reason == {"ends before it starts": 4}

    # The producer itself, from CSV and then from the Parquet of the same two files: the raw topic
    # receives the same records (key, value) in the same order in every partition.
    names = ("JC-202102-citibike-tripdata.csv", "201801-1-citibike-tripdata.csv")
    env = producer_env(stack, tmp_path / "checkpoints", opening_stock="false")
    published = []
    for targets in (
        [f"pp-{run}/raw/{name}" for name in names],
        [f"pp-{run}/trips/*file={name}/*.parquet" for name in names],
    ):
        before = await end_offsets(stack, topics.RAW)
        done = await asyncio.to_thread(run_producer, env, tmp_path / "producer.log", *targets)
        assert done.returncode == 0, done.stderr[-3000:]
        published.append(await read_range(stack, topics.RAW, before, await end_offsets(stack, topics.RAW)))
    from_csv_topic, from_parquet_topic = published
    assert sum(len(v) for v in from_csv_topic.values()) == 2 * sum(len(trips[n]) for n in names)
    assert from_parquet_topic == from_csv_topic


async def end_offsets(stack: Stack, topic: str) -> dict[int, int]:
    kafka = AIOKafkaConsumer(bootstrap_servers=stack.kafka.bootstrap, enable_auto_commit=False)
    await kafka.start()
    try:
        cluster = await kafka._client.fetch_all_metadata()
        parts = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
        return {tp.partition: offset for tp, offset in (await kafka.end_offsets(parts)).items()}
    finally:
        await kafka.stop()


async def read_range(
    stack: Stack, topic: str, start: dict[int, int], end: dict[int, int]
) -> dict[int, list[tuple[bytes | None, bytes | None]]]:
    """(key, value) of each event per partition between two sets of offsets (frames split)."""
    kafka = AIOKafkaConsumer(bootstrap_servers=stack.kafka.bootstrap, enable_auto_commit=False)
    await kafka.start()
    out: dict[int, list[Any]] = {p: [] for p in start}
    try:
        parts = [TopicPartition(topic, p) for p in start if end[p] > start[p]]
        kafka.assign(parts)
        for tp in parts:
            kafka.seek(tp, start[tp.partition])

        async def done() -> bool:
            for tp, messages in (await kafka.getmany(timeout_ms=500)).items():
                out[tp.partition] += [m for m in messages if m.offset < end[tp.partition]]
            return all(len(out[p]) >= end[p] - start[p] for p in start)

        await eventually(f"records of {topic}", done, deadline_s=120)
    finally:
        await kafka.stop()
    return {p: [(e.key, e.value) for e in event_messages(records)] for p, records in out.items()}


def dst_days() -> list[date]:
    days = []
    for year in range(2015, 2025):
        march = date(year, 3, 8 + (6 - date(year, 3, 8).weekday()) % 7)  # second Sunday of March
        november = date(year, 11, 1 + (6 - date(year, 11, 1).weekday()) % 7)  # first Sunday of November
        days += [march, november]
    return days


def test_new_york_to_utc_matches_zoneinfo_around_every_clock_change(spark: Any) -> None:
    texts = [
        (datetime.combine(day, datetime.min.time()) + timedelta(minutes=m)).strftime(fmt)
        for day in dst_days()
        for m in range(0, 4 * 60, 10)
        for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%m/%d/%Y %H:%M")
    ]
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    frame = spark.createDataFrame([(t,) for t in texts], "text STRING")
    local = columns.local_time(frame["text"])
    rows = frame.select(
        "text",
        columns.new_york_to_utc(local).alias("fold0"),
        columns.new_york_to_utc_second_pass(local).alias("fold1"),
    ).collect()
    assert len(rows) == len(texts)
    for row in rows:
        assert row["fold0"].replace(tzinfo=UTC) == parse_time(row["text"]), row["text"]
        assert row["fold1"].replace(tzinfo=UTC) == parse_time(row["text"], fold=1), row["text"]

    # Trips in and around the repeated autumn hour, with and without a duration: the same readings.
    trips = []
    for day in [d for d in dst_days() if d.month == 11][:3]:
        base = datetime.combine(day, datetime.min.time()) + timedelta(minutes=30)
        for a in range(0, 150, 20):
            for b in range(-60, 130, 20):
                start, end = base + timedelta(minutes=a), base + timedelta(minutes=a + b)
                for duration in (None, "600", "1200", "4800", "7200"):
                    trips.append((f"{start:%Y-%m-%d %H:%M:%S}", f"{end:%Y-%m-%d %H:%M:%S}", duration))
    frame = spark.createDataFrame(trips, "s STRING, e STRING, d STRING")
    got = columns.with_trip_times(frame, "s", "e", "d").collect()
    assert len(got) == len(trips)
    for row in got:
        want = trip_times(row["s"], row["e"], float(row["d"]) if row["d"] else None)
        assert (row["start"].replace(tzinfo=UTC), row["end"].replace(tzinfo=UTC)) == want, tuple(row)


async def test_bad_rows_go_to_rejects_and_reruns_replace_partitions(s3a_spark: Any, stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    subway = shared_file("caryni01__p8105_hw2_cn2604", "data", "NYC_Transit_Subway_Entrance_And_Exit_Data.csv")
    objects = {
        f"pr-{run}/raw/bad-and-dst.csv": BAD_AND_DST.encode(),
        f"pr-{run}/raw/JC-202102-citibike-tripdata.csv": real_file("JC-202102-citibike-tripdata.csv").read_bytes(),
        f"pr-{run}/raw/subway.csv": subway.read_bytes(),
    }
    await upload(stack, objects)
    paths = (f"s3a://{BUCKET}/pr-{run}/raw/", f"s3a://{BUCKET}/pr-{run}/trips", f"s3a://{BUCKET}/pr-{run}/rejects")
    first = job.run(s3a_spark, *paths)
    second = job.run(s3a_spark, *paths)

    for summary in (first, second):
        assert list(summary.rejected_files) == [f"s3://{BUCKET}/pr-{run}/raw/subway.csv"]
        assert "not a Citi Bike trip file" in summary.rejected_files[f"s3://{BUCKET}/pr-{run}/raw/subway.csv"]
        assert summary.trips == 3 + 4881 - 4  # three good synthetic trips; JC-202102 without its four bad ones
    rejects = s3a_spark.read.json(paths[2]).collect()
    bad_file = [r for r in rejects if r["file"] == "bad-and-dst.csv"]
    assert {
        int(r["source"].rsplit("#", 1)[1]): r["reason"].split(" (")[0].split(" '")[0] for r in bad_file
    } == BAD_REASONS
    assert len(rejects) == 4 + 4  # not doubled by the rerun

    parquet_files = await download_all(stack, f"pr-{run}/trips/", ".parquet")
    events = [e for key, data in parquet_files.items() for e in parquet_events(data, key)]
    assert len(events) == 2 * second.trips  # the rerun replaced, not appended
    expected = csv_path_events(f"pr-{run}/raw/bad-and-dst.csv", objects[f"pr-{run}/raw/bad-and-dst.csv"])
    synthetic = [e for e in events if "bad-and-dst" in e.source]
    assert order_events(synthetic) == order_events(expected)
    autumn = next(e for e in synthetic if e.source.endswith("#2") and e.kind.value == "end")
    assert autumn.event_time == datetime(2018, 11, 4, 6, 10, tzinfo=UTC)  # 01:10 EST, the repeated hour's second pass
