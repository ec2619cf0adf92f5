"""The producer against real SeaweedFS S3 and Kafka: every era's rows become events, published in
event-time order per partition and keyed by station; bad rows and files are reported, nothing valid lost."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import uuid
import zipfile
from datetime import datetime
from typing import Any

import pytest

from devstack import paths, provision
from devstack.stack import BUCKET, Stack
from shared import topics
from tests.conftest import read_topic, shared_file
from tests.producer_runs import assert_one_partition_per_station

pytestmark = pytest.mark.stack

JC_2021 = ("eveshi__postpandemic-citi-bike-usage", "JC-202102-citibike-tripdata.csv")
NYC_2018 = ("EDA-GRUPO-5__EDA-2020-20-Reto-4-SEC-4-Grupo-5", "Data", "201801-1-citibike-tripdata.csv")
BAD_ROWS = (
    "ride_id,rideable_type,started_at,ended_at,start_station_name,start_station_id,end_station_name,"
    "end_station_id,start_lat,start_lng,end_lat,end_lng,member_casual\n"
    "A1,docked_bike,2021-02-01 10:00:00,2021-02-01 10:10:00,X,JC1,Y,JC2,40.7,-74.0,40.71,-74.01,member\n"
    "A2,docked_bike,yesterday,2021-02-01 10:10:00,X,JC1,Y,JC2,40.7,-74.0,40.71,-74.01,member\n"
    "A3,docked_bike,2021-02-01 10:00:00\n"
)


def trips_in(path: Any) -> tuple[int, int]:
    """(rows, rows that end before they start): the latter are bad rows the producer dead-letters."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    start, end = ("started_at", "ended_at") if "started_at" in rows[0] else ("starttime", "stoptime")
    backwards = sum(1 for r in rows if datetime.fromisoformat(r[end]) < datetime.fromisoformat(r[start]))
    return len(rows), backwards


async def test_replay_of_two_eras_a_zip_and_bad_input(stack: Stack) -> None:
    prefix = f"replay-{uuid.uuid4().hex[:8]}/"
    jc, nyc = shared_file(*JC_2021), shared_file(*NYC_2018)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.write(jc, jc.name)
    (stack.state / "jc.zip").write_bytes(archive.getvalue())
    (stack.state / "bad.csv").write_text(BAD_ROWS)
    (stack.state / "notes.csv").write_text("name,comment\nx,not a trip file\n")
    (stack.state / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    await provision.ensure_bucket(
        stack.s3.endpoint,
        BUCKET,
        stack.access_key,
        stack.secret_key,
        {
            f"{prefix}JC-202102.zip": stack.state / "jc.zip",
            f"{prefix}201801-1.csv": nyc,
            f"{prefix}bad.csv": stack.state / "bad.csv",
            f"{prefix}notes.csv": stack.state / "notes.csv",
            f"{prefix}broken.zip": stack.state / "broken.zip",
        },
    )

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.producer", "--prefix", prefix],
        env={**stack.service_env("producer"), "BIKESHARE_OPENING_STOCK": "false"},  # trips only: see producer_runs
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]  # rejected files
    assert f"skipping s3://{BUCKET}/{prefix}notes.csv: not a Citi Bike trip file" in result.stderr
    assert f"skipping s3://{BUCKET}/{prefix}broken.zip: not a readable zip archive" in result.stderr

    (jc_rows, jc_backwards), (nyc_rows, nyc_backwards) = trips_in(jc), trips_in(nyc)
    backwards = jc_backwards + nyc_backwards
    expected_events = 2 * (jc_rows + nyc_rows - backwards) + 2  # plus the one good row of bad.csv
    events = await read_topic(stack.kafka.bootstrap, topics.RAW, expected_events, containing=prefix)
    assert len(events) == expected_events
    decoded = [json.loads(m.value) for m in events]
    assert len({e["event_id"] for e in decoded}) == expected_events
    assert_one_partition_per_station(events)
    for partition in {m.partition for m in events}:
        times = [
            datetime.fromisoformat(e["event_time"])
            for m, e in zip(events, decoded, strict=True)
            if m.partition == partition
        ]
        assert times == sorted(times), f"partition {partition} is not in event-time order"

    dead = await read_topic(stack.kafka.bootstrap, topics.DEAD_LETTER, 2 + backwards, containing=prefix)
    letters = [json.loads(m.value) for m in dead]
    assert len(letters) == 2 + backwards
    assert {letter["stage"] for letter in letters} == {"producer"}
    from_bad_csv = {
        letter["source"].rsplit("#", 1)[1]: letter["reason"] for letter in letters if "bad.csv" in letter["source"]
    }
    assert from_bad_csv == {"3": "unparseable time 'yesterday'", "4": "3 fields, header has 13"}
    assert sum("ends before it starts" in letter["reason"] for letter in letters) == backwards
