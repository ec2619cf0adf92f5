"""The producer against real SeaweedFS S3 and Kafka: a yearly zip of monthly CSV parts, a monthly zip,
a month range, unsorted rows coming out in event-time order per station."""

from __future__ import annotations

import asyncio
import io
import random
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devstack import provision
from devstack.stack import BUCKET, Stack
from shared import topics
from tests.conftest import read_topic, shared_file
from tests.producer_runs import (
    assert_one_partition_per_station,
    assert_station_order,
    decoded,
    expected_sides,
    producer_env,
    run_producer,
    trips_of,
)

pytestmark = pytest.mark.stack

JC_2021 = ("eveshi__postpandemic-citi-bike-usage", "JC-202102-citibike-tripdata.csv")
JC_2019 = ("eveshi__postpandemic-citi-bike-usage", "JC-201901-citibike-tripdata.csv")


def shuffled_parts(path: Path, parts: int, seed: int) -> list[str]:
    """The file's rows shuffled (so no part is in time order) and split into parts, each with the header."""
    header, *rows = path.read_text().splitlines()
    random.Random(seed).shuffle(rows)
    size = -(-len(rows) // parts)
    return [header + "\n" + "\n".join(rows[i : i + size]) + "\n" for i in range(0, len(rows), size)]


async def test_yearly_zip_parts_and_a_month_range_come_out_in_event_time_order(stack: Stack, tmp_path: Path) -> None:
    prefix = f"bucket-{uuid.uuid4().hex[:8]}/"
    jc21, jc19 = shared_file(*JC_2021), shared_file(*JC_2019)
    part1, part2 = shuffled_parts(jc21, 2, seed=7)
    may = part1.splitlines()[0] + "\n" + "\n".join("MAY" + line for line in part1.splitlines()[1:11]) + "\n"
    yearly = io.BytesIO()
    with zipfile.ZipFile(yearly, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("2021-citibike-tripdata/202102-citibike-tripdata_2.csv", part2)
        z.writestr("2021-citibike-tripdata/202102-citibike-tripdata_1.csv", part1)
        z.writestr("2021-citibike-tripdata/202105-citibike-tripdata_1.csv", may)  # outside the month range
        z.writestr("__MACOSX/2021-citibike-tripdata/._202102-citibike-tripdata_1.csv", b"\x00\x05\x16\x07")
        z.writestr("2021-citibike-tripdata/README.txt", "not a csv")
    monthly = io.BytesIO()
    with zipfile.ZipFile(monthly, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(jc19, "JC-201901-citibike-tripdata.csv")
    (tmp_path / "2021.zip").write_bytes(yearly.getvalue())
    (tmp_path / "jc19.zip").write_bytes(monthly.getvalue())
    await provision.ensure_bucket(
        stack.s3.endpoint,
        BUCKET,
        stack.access_key,
        stack.secret_key,
        {
            f"{prefix}2021-citibike-tripdata.zip": tmp_path / "2021.zip",
            f"{prefix}JC-201901-citibike-tripdata.csv.zip": tmp_path / "jc19.zip",
            f"{prefix}202104-citibike-tripdata.csv": jc21,  # outside the month range
        },
    )

    result = await asyncio.to_thread(
        run_producer,
        producer_env(stack, tmp_path / "checkpoints", opening_stock="false"),
        tmp_path / "producer.log",
        f"s3://{BUCKET}/{prefix}",
        "--from-month",
        "2019-01",
        "--to-month",
        "2021-03",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    readme = f"s3://{BUCKET}/{prefix}2021-citibike-tripdata.zip!2021-citibike-tripdata/README.txt: not a CSV"
    assert f"skipping {readme}" in result.stderr

    expected = expected_sides(trips_of(part1) + trips_of(part2) + trips_of(jc19.read_text()))
    messages = await read_topic(stack.kafka.bootstrap, topics.RAW, len(expected), containing=prefix)
    events = decoded(messages)
    assert len(events) == len(expected)
    assert {(e["trip_id"], e["kind"]) for e in events} == expected
    assert not any(e["trip_id"].startswith("MAY") or "202104" in e["source"] for e in events)
    assert_one_partition_per_station(messages)
    assert_station_order(messages)
    # the rows were shuffled, so order per station came from the producer's sort, not from the files
    assert result.summary()["events"] == len(expected)


async def test_start_until_and_speed_replay_a_window_paced_by_event_time(stack: Stack, tmp_path: Path) -> None:
    jc21 = shared_file(*JC_2021)
    start, until = datetime(2021, 2, 10, tzinfo=UTC), datetime(2021, 2, 12, tzinfo=UTC)
    expected = {
        (trip.trip_id, kind)
        for trip in trips_of(jc21.read_text())
        for kind, at in (("start", trip.start), ("end", trip.end))
        if start <= at < until
    }
    copy = tmp_path / "JC-202102-citibike-tripdata.csv"
    copy.write_bytes(jc21.read_bytes())  # a path of its own, to find its events on the topic
    result = await asyncio.to_thread(
        run_producer,
        producer_env(stack, tmp_path / "checkpoints", opening_stock="false"),
        tmp_path / "producer.log",
        str(copy),
        "--start",
        start.isoformat(),
        "--until",
        until.isoformat(),
        "--speed",
        str(24 * 3600),  # a day of trips per second: the two days take at least ~2 s
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = result.summary()
    assert summary["publish_seconds"] >= 1.5
    messages = await read_topic(stack.kafka.bootstrap, topics.RAW, len(expected), containing=str(copy))
    assert {(e["trip_id"], e["kind"]) for e in decoded(messages)} == expected
    assert len(messages) == len(expected)
