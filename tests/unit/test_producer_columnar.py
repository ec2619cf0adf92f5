"""The columnar reader (`services/producer/columnar.py`) gives exactly the exact path's records and dead letters.

The exact path (`row_reader.read_document`: the csv module, one `TripEvent` pair per row, msgspec) is
the reference; both are run on the same bytes and compared as sets of spill records (time, id, key,
encoded event: their order is the sort's business) and as the list of bad rows in line order. Inputs:
every sample era of ../shared/data (as files and as a zip member), and a file written here to hit every
case the columnar reader hands back to the exact path, read in one chunk and in chunks of a few lines
(so that chunk edges fall inside quoted fields, bad lines and over-long lines).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.producer import columnar
from services.producer.columnar import Block, read_document_columnar
from services.producer.reading import micros
from services.producer.row_reader import Plausible, read_document
from services.producer.trip_rows import BadRow
from shared.events import TripEvent, encode
from tests.unit.trip_files import TRIP_FILES

Records = list[tuple[int, str, bytes, bytes]]
WINDOW = (micros(datetime(2018, 1, 10, tzinfo=UTC)), micros(datetime(2021, 2, 20, tzinfo=UTC)))


def _record(event: TripEvent) -> tuple[int, str, bytes, bytes]:
    return micros(event.event_time), event.event_id, (event.station_id or "").encode(), encode(event)


def _in(time_us: int, window: tuple[int, int] | None) -> bool:
    return window is None or window[0] <= time_us < window[1]


def exact(data: bytes, window: tuple[int, int] | None = None) -> tuple[Records, list[BadRow]]:
    records: Records = []
    bad: list[BadRow] = []
    for item in read_document("s3://b/k.csv", io.BufferedReader(io.BytesIO(data)), Plausible()):
        if isinstance(item, BadRow):
            bad.append(item)
        elif _in(micros(item.event_time), window):
            records.append(_record(item))
    return sorted(records), bad


def by_columns(stream: Any, window: tuple[int, int] | None = None) -> tuple[Records, list[BadRow], int]:
    """(records, bad rows, rows the columnar path took itself)"""
    records: Records = []
    bad: list[BadRow] = []
    plain = 0
    start, until = window or (None, None)
    for item in read_document_columnar("s3://b/k.csv", stream, Plausible(), start, until):
        if isinstance(item, Block):
            columns = [item.records.column(name).to_pylist() for name in ("time_us", "event_id", "key", "payload")]
            records += zip(*columns, strict=True)
            plain += item.rows
        elif isinstance(item, BadRow):
            bad.append(item)
        elif _in(micros(item.event_time), window):
            records.append(_record(item))
    return sorted(records), bad, plain


@pytest.mark.parametrize("name", list(TRIP_FILES))
@pytest.mark.parametrize("window", [None, WINDOW], ids=["all", "window"])
def test_every_sample_era_reads_the_same_and_by_columns(name: str, window: tuple[int, int] | None) -> None:
    data = TRIP_FILES[name].read_bytes()
    records, bad = exact(data, window)
    got, got_bad, plain = by_columns(io.BufferedReader(io.BytesIO(data)), window)
    assert got == records
    assert got_bad == bad
    rows = data.count(b"\n") - 1 + (not data.endswith(b"\n"))
    # nearly every row is plain; the bad ones and a few others (cocteau-202409 has an id "Shop Morgan " with a
    # trailing space and a name with a backslash) go through the exact path
    assert rows - len(bad) - 2 <= plain <= rows - len(bad)


def test_a_zip_member_reads_the_same() -> None:
    data = TRIP_FILES["JC-202102"].read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("JC-202102-citibike-tripdata.csv", data)
    with zipfile.ZipFile(buffer) as z, z.open("JC-202102-citibike-tripdata.csv") as member:
        got, got_bad, _ = by_columns(io.BufferedReader(member))
    assert (got, got_bad) == exact(data)


HEADER_2014 = (
    '"tripduration","starttime","stoptime","start station id","start station name","start station latitude",'
    '"start station longitude","end station id","end station name","end station latitude",'
    '"end station longitude","bikeid","usertype","birth year","gender"\n'
)


def _row(
    start: str = "1/1/2014 00:00:06",
    end: str = "1/1/2014 00:10:06",
    start_id: str = "72",
    start_name: str = "W 52 St & 11 Ave",
    lat: str = "40.76727216",
    lon: str = "-73.99392888",
    bike: str = "16379",
    duration: str = "600",
) -> str:
    return (
        f'{duration},"{start}","{end}",{start_id},"{start_name}",{lat},{lon},505,"6 Ave & W 33 St",'
        f'40.74901271,-73.98848395,{bike},"Subscriber",1986,1\n'
    )


def tricky_file() -> bytes:
    """Plain rows and, between them, one of each case the columnar reader leaves to the exact path."""
    rows = [
        _row(),
        _row(start="10/12/2014 13:05:07", end="10/12/2014 13:15"),  # US times, one without seconds
        _row(start="2014-06-01 08:00:00", end="2014-06-01T08:10:00.25"),  # ISO with T and a fraction
        _row(start="2014-06-01 08:00:00.123456", end="2014-06-01 08:10:00.1"),
        _row(start="11/2/2014 01:30:00", end="11/2/2014 01:20:00", duration="3000"),  # the repeated hour
        _row(start="3/9/2014 02:30:00", end="3/9/2014 03:10:00"),  # the skipped hour
        _row(start="1/1/2014 00:20:00", end="1/1/2014 00:10:00"),  # ends before it starts
        _row(start="1/1/1999 00:20:00", end="1/1/1999 00:30:00"),  # implausible
        _row(start="2/30/2014 00:20:00"),  # no such day
        _row(start="1/1/2014 24:00:00"),
        _row(start="Jan 1 2014"),
        _row(start_id="NULL"),
        _row(start_id="\\N"),
        _row(start_id=""),
        _row(start_id="x" * 40),  # too long
        _row(start_name="null"),
        _row(start_name="Caf\u00e9 \u00e0 la gare"),  # not ASCII
        _row(start_name="tab\there"),  # a control character: a dead letter
        _row(start_name="del\x7fete"),
        _row(start_name="c1 \u0085 control"),
        _row(start_name=" padded "),
        _row(start_name="back\\slash"),
        _row(start_name="comma, inside"),
        _row(lat="NA", lon=""),
        _row(lat="0.0", lon="40"),
        _row(lat="1e-5", lon=" 40.7"),
        _row(lat="abc"),
        _row(lat="-0", lon="40.750"),
        _row(bike=""),
        "600,1/1/2014 00:00:06,1/1/2014 00:10:06,72\n",  # too few fields
        _row().replace('"Subscriber"', '"Sub""scriber"'),  # a doubled quote
        _row().replace("\n", "\r\n"),
        "\n",  # a blank line
        _row(start_name="new\nline"),  # a quoted field over two lines
        _row().replace("Subscriber", "Subscr\xff"),  # not UTF-8 (written as latin-1 below)
        "9" * 70_000 + "\n",  # longer than the line limit
        _row(start="1/2/2014 07:00:00", end="1/2/2014 07:05:00"),
    ]
    plain = [
        _row(start=f"1/{day}/2014 {hour:02d}:00:00", end=f"1/{day}/2014 {hour:02d}:30:00")
        for day in (3, 4)
        for hour in range(24)
    ]
    body = "".join(r for pair in zip(rows, plain, strict=False) for r in pair) + "".join(plain[len(rows) :])
    text = "\ufeff" + HEADER_2014 + body + _row(start="1/5/2014 07:00:00").rstrip("\n")  # no final line end
    return text.encode("utf-8").replace("Subscr\u00ff".encode(), b"Subscr\xff")


def _chunked(monkeypatch: pytest.MonkeyPatch, size: int | None) -> None:
    if size is not None:
        monkeypatch.setattr(columnar, "BLOCK_BYTES", size)
        monkeypatch.setattr(columnar, "READ_BUFFER", max(size // 3, 1))


@pytest.mark.parametrize("size", [None, 700, 2000], ids=["one chunk", "700 B chunks", "2 kB chunks"])
def test_every_case_left_to_the_exact_path_reads_the_same(monkeypatch: pytest.MonkeyPatch, size: int | None) -> None:
    _chunked(monkeypatch, size)
    data = tricky_file()
    records, bad = exact(data)
    got, got_bad, plain = by_columns(io.BufferedReader(io.BytesIO(data)))
    assert got_bad == bad
    assert got == records
    assert len(bad) >= 10
    if size is not None:  # chunks without a problem (or only problem rows) went by columns
        assert plain > 20


@pytest.mark.parametrize("size", [1000, 50_000])
def test_a_document_without_quotes_goes_back_to_columns_after_a_bad_chunk(
    monkeypatch: pytest.MonkeyPatch, size: int | None
) -> None:
    _chunked(monkeypatch, size)
    data = TRIP_FILES["JC-202102"].read_bytes()
    header, *lines = data.splitlines(keepends=True)
    lines.insert(40, b"\n")  # blank
    lines.insert(80, b"x,y\n")  # too few fields
    lines.insert(120, b"\xff\xfe broken\n")  # not UTF-8
    lines.insert(4000, b"z" * 70_000 + b"\n")  # over-long: longer than a chunk of 1000 B, exact from there on
    data = header + b"".join(lines)
    records, bad = exact(data)
    got, got_bad, plain = by_columns(io.BufferedReader(io.BytesIO(data)))
    assert (got, got_bad) == (records, bad)
    assert plain > 3500


class Breaks(io.RawIOBase):
    """A stream that fails after `after` bytes, as a broken zip or a lost connection does."""

    def __init__(self, data: bytes, after: int) -> None:
        self.data, self.after, self.at = data, after, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.at >= self.after:
            raise OSError("connection lost")
        n = min(len(buffer), self.after - self.at)
        buffer[:n] = self.data[self.at : self.at + n]
        self.at += n
        return n


def _until_failure(items: Iterator[Any]) -> tuple[list[Any], Exception | None]:
    got: list[Any] = []
    try:
        for item in items:
            got.append(item)
    except OSError as exc:
        return got, exc
    return got, None


def test_a_failure_keeps_the_complete_lines_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _chunked(monkeypatch, 4096)
    data = TRIP_FILES["JC-202102"].read_bytes()
    items, failure = _until_failure(
        read_document_columnar("s3://b/k.csv", io.BufferedReader(Breaks(data, 100_000), 1024), Plausible(), None, None)
    )
    assert isinstance(failure, OSError)
    rows = sum(item.rows for item in items if isinstance(item, Block)) + sum(
        isinstance(item, BadRow) or (isinstance(item, TripEvent) and item.kind == "start") for item in items
    )
    complete = data[:100_000].count(b"\n") - 1  # the header is not a row
    assert complete - 30 <= rows <= complete  # every complete line of the chunks read before the failure
