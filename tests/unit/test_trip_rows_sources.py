"""Where trip rows come from: ranged S3 reads (retried from the same byte, never the whole object for
one zip member), names in time order and month ranges, the external sort. Fakes only for S3's failures."""

from __future__ import annotations

import asyncio
import io
import random
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from services.producer.documents import documents, text_lines
from services.producer.sources import SourceError, SourceObject, in_months, period, time_order_key
from services.producer.sources.s3 import RangedObject
from services.producer.spill import ExternalSorter, merge


class Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aenter__(self) -> Body:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        return self.data


class FlakyS3:
    """Serves one object by byte ranges; fails the requests whose numbers are in `fail` (connection lost)."""

    def __init__(self, data: bytes, fail: set[int] = frozenset(), missing: bool = False) -> None:  # type: ignore[assignment]
        self.data, self.fail, self.missing = data, fail, missing
        self.ranges: list[tuple[int, int]] = []

    async def get_object(self, Bucket: str, Key: str, Range: str, IfMatch: str) -> dict[str, Any]:
        if self.missing:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")
        start, end = (int(n) for n in Range.removeprefix("bytes=").split("-"))
        self.ranges.append((start, end))
        if len(self.ranges) in self.fail:
            raise ConnectionResetError("connection lost mid-object")
        return {"Body": Body(self.data[start : end + 1])}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop in a thread, as the producer runs it while its reader thread reads."""
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join()
    running.close()


def ranged(s3: FlakyS3, loop: asyncio.AbstractEventLoop, buffer: int) -> io.BufferedReader:
    obj = SourceObject("s3://b/2021-citibike-tripdata.zip", len(s3.data), '"etag"')
    return io.BufferedReader(RangedObject(s3, loop, obj, chunk=buffer), buffer_size=buffer)


def test_a_lost_connection_is_retried_from_the_same_byte(loop: asyncio.AbstractEventLoop) -> None:
    data = bytes(random.Random(1).randbytes(100_000))
    s3 = FlakyS3(data, fail={2})
    assert ranged(s3, loop, 30_000).read() == data
    assert s3.ranges[1] == s3.ranges[2]  # the failed range asked again, not the object from the start
    assert [r[0] for r in s3.ranges] == [0, 30_000, 30_000, 60_000, 90_000]


def test_an_object_deleted_after_listing_is_named(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(SourceError, match=r"s3://b/2021-citibike-tripdata.zip: reading bytes 0-.*NoSuchKey"):
        ranged(FlakyS3(b"x" * 10, missing=True), loop, 1024).read()


def test_one_zip_member_is_read_without_fetching_the_whole_object(loop: asyncio.AbstractEventLoop) -> None:
    noise = random.Random(2).randbytes(2_000_000)  # incompressible, stored as is
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("2021-citibike-tripdata/big-202101.bin", noise)
        z.writestr("2021-citibike-tripdata/202102-citibike-tripdata_1.csv", "a,b\n1,2\n")
    s3 = FlakyS3(archive.getvalue())
    found = [
        (name, list(text_lines(stream, []))) for name, stream in documents("s3://b/y.zip", ranged(s3, loop, 64_000))
    ]
    assert found == [("s3://b/y.zip!2021-citibike-tripdata/202102-citibike-tripdata_1.csv", ["a,b\n", "1,2\n"])]
    fetched = sum(end - start + 1 for start, end in s3.ranges)
    assert fetched < len(s3.data) / 4, f"fetched {fetched} of {len(s3.data)} bytes"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("201801-1-citibike-tripdata.csv", (2018, 1)),
        ("JC-201901-citibike-tripdata.csv.zip", (2019, 1)),
        ("2014-citibike-tripdata.zip", (2014, 0)),
        ("2013-citibike-tripdata/201306-citibike-tripdata_2.csv", (2013, 6)),
        ("2013-07 - Citi Bike trip data.csv", (2013, 7)),
        ("notes.csv", None),
    ],
)
def test_periods_from_names(name: str, expected: tuple[int, int] | None) -> None:
    assert period(name) == expected


def test_names_in_time_order_and_month_ranges() -> None:
    names = ["202102-b_2.csv", "2014-citibike-tripdata.zip", "JC-201901-x.csv.zip", "202102-b_1.csv", "201312.csv"]
    assert sorted(names, key=time_order_key) == [
        "201312.csv",
        "2014-citibike-tripdata.zip",
        "JC-201901-x.csv.zip",
        "202102-b_1.csv",
        "202102-b_2.csv",
    ]
    months = ((2014, 3), (2019, 1))
    assert [n for n in names if in_months(n, months)] == ["2014-citibike-tripdata.zip", "JC-201901-x.csv.zip"]


def test_the_external_sort_orders_by_time_then_id_across_runs(tmp_path: Path) -> None:
    rng = random.Random(5)
    records = [(rng.randrange(1000), f"{n:036d}", b"k", f"payload {n}".encode()) for n in range(5000)]
    sorter = ExternalSorter(tmp_path, run_events=1000)
    for record in records:
        sorter.add(record)
    runs = sorter.finish()
    assert len(runs) == 5
    assert list(merge(runs)) == sorted(records)


def test_parquet_of_events_is_replayed_like_the_csv_it_came_from(tmp_path: Path) -> None:
    import msgspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    from services.producer.replay import Replayer, ReplayOptions
    from services.producer.selection import Selection
    from services.producer.settings import ProducerSettings
    from services.producer.sources.local import LocalSource, list_paths
    from services.producer.spill import LetterFile
    from shared.events import TripEvent, decode_trip, field_names
    from tests.unit.trip_files import TRIP_FILES, split_file

    events = [e for e in split_file(TRIP_FILES["JC-202102"]) if isinstance(e, TripEvent)]
    rows = [msgspec.to_builtins(e) for e in events]
    table = pa.Table.from_pylist(rows).select(list(field_names(TripEvent)))
    pq.write_table(table, tmp_path / "202102-events.parquet")
    settings = ProducerSettings.model_validate({"kafka_bootstrap_servers": "unused:1", "checkpoint_dir": tmp_path})
    replayer = Replayer(settings, kafka=None, s3=None)
    (obj,) = list_paths(str(tmp_path / "202102-events.parquet"))
    sorter = ExternalSorter(tmp_path / "spill", run_events=1000)
    letters = LetterFile(tmp_path / "letters.bin")
    replayer._read_object(obj, LocalSource(), Selection([obj], None, []), ReplayOptions(), sorter, letters)
    assert replayer.report.rejected_files == []
    replayed = [decode_trip(record[3]) for record in merge(sorter.finish())]
    assert replayed == sorted(events, key=lambda e: (e.event_time, e.event_id))
