"""Helpers for the trip-row tests: the real trip files, read independently with the csv module."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from services.producer.trip_rows import BadRow, split_rows
from shared.events import EventKind, TripEvent

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EDA = DATA / "EDA-GRUPO-5__EDA-2020-20-Reto-4-SEC-4-Grupo-5" / "Data"
EVESHI = DATA / "eveshi__postpandemic-citi-bike-usage"
TRIP_FILES: dict[str, Path] = {
    "201801-1": EDA / "201801-1-citibike-tripdata.csv",
    "201801-2": EDA / "201801-2-citibike-tripdata.csv",
    "JC-201901": EVESHI / "JC-201901-citibike-tripdata.csv",
    "cocteau-202409": DATA / "cocteau__Data24" / "data" / "citibike.csv",
    "JC-202102": EVESHI / "JC-202102-citibike-tripdata.csv",
}
SUBWAY_FILE = DATA / "caryni01__p8105_hw2_cn2604" / "data" / "NYC_Transit_Subway_Entrance_And_Exit_Data.csv"
SOURCE = "s3://b/k"
NEW_YORK = ZoneInfo("America/New_York")

# Data rows per file, as listed in SOURCES.md.
DATA_ROWS = {"201801-1": 9_999, "201801-2": 20_001, "JC-201901": 19_676, "cocteau-202409": 10_000, "JC-202102": 4_881}
# Rows with no events, found by hand: JC-202102 has 4 trips that end before they start
# (e.g. 2021-02-24 17:54:49 -> 17:53:32); every other row of these files is usable.
BAD_ROWS = {"201801-1": 0, "201801-2": 0, "JC-201901": 0, "cocteau-202409": 0, "JC-202102": 4}

# What each verbatim header name of these files means (written by hand, era d and era e).
HEADER_MEANING = {
    "starttime": "start_time",
    "started_at": "start_time",
    "stoptime": "end_time",
    "ended_at": "end_time",
    "start station id": "start_id",
    "start_station_id": "start_id",
    "start station name": "start_name",
    "start_station_name": "start_name",
    "start station latitude": "start_lat",
    "start_lat": "start_lat",
    "start station longitude": "start_lon",
    "start_lng": "start_lon",
    "end station id": "end_id",
    "end_station_id": "end_id",
    "end station name": "end_name",
    "end_station_name": "end_name",
    "end station latitude": "end_lat",
    "end_lat": "end_lat",
    "end station longitude": "end_lon",
    "end_lng": "end_lon",
    "bikeid": "bike_id",
    "ride_id": "ride_id",
    "rideable_type": "rideable_type",
}
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")

ERA_D_HEADER = (
    '"tripduration","starttime","stoptime","start station id","start station name","start station latitude",'
    '"start station longitude","end station id","end station name","end station latitude",'
    '"end station longitude","bikeid","usertype","birth year","gender"'
)


def new_york_to_utc(text: str) -> datetime | None:
    """The UTC instant of a New York wall-clock time, or None if it is not a time at all."""
    for fmt in TIME_FORMATS:
        try:
            local = datetime.strptime(text, fmt).replace(tzinfo=NEW_YORK)
        except ValueError:
            continue
        return local.astimezone(UTC)
    return None


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    line: int
    raw: list[str]
    fields: dict[str, str]
    start: datetime | None
    end: datetime | None
    bad: str | None
    """A fragment the reason of the row's BadRow must contain, or None for a usable row."""

    def value(self, meaning: str) -> str | None:
        return self.fields.get(meaning) or None

    def trip_key(self) -> tuple[str, ...]:
        if "ride_id" in self.fields:
            return (self.fields["ride_id"],)
        return (self.fields["bike_id"], self.fields["start_time"])


@dataclass(frozen=True)
class ParsedFile:
    name: str
    header: list[str]
    rows: list[Row]
    items: list[TripEvent | BadRow]

    @property
    def events(self) -> list[TripEvent]:
        return [item for item in self.items if isinstance(item, TripEvent)]

    @property
    def bad_items(self) -> list[BadRow]:
        return [item for item in self.items if isinstance(item, BadRow)]

    @property
    def good_rows(self) -> list[Row]:
        return [row for row in self.rows if row.bad is None]


def expected_rows(path: Path) -> tuple[list[str], list[Row]]:
    with path.open(newline="") as fh:
        table = list(csv.reader(fh))
    header, body = table[0], table[1:]
    rows = []
    for line, raw in enumerate(body, start=2):  # record n of the file is spreadsheet row n + 1
        if not raw:
            continue
        if len(raw) != len(header):
            rows.append(Row(line, raw, {}, None, None, "fields"))
            continue
        fields = {
            HEADER_MEANING[name]: value.strip()
            for name, value in zip(header, raw, strict=True)
            if name in HEADER_MEANING
        }
        start, end = new_york_to_utc(fields["start_time"]), new_york_to_utc(fields["end_time"])
        bad = None
        if start is None or end is None:
            bad = "unparseable time"
        elif end < start:
            bad = "ends before it starts"
        rows.append(Row(line, raw, fields, start, end, bad))
    return header, rows


def split_file(path: Path) -> list[TripEvent | BadRow]:
    with path.open(newline="") as fh:
        return list(split_rows(iter(csv.reader(fh)), SOURCE))


@cache
def load(name: str) -> ParsedFile:
    path = TRIP_FILES[name]
    header, rows = expected_rows(path)
    return ParsedFile(name, header, rows, split_file(path))


def events_by_line(events: list[TripEvent]) -> dict[int, dict[EventKind, TripEvent]]:
    by_line: dict[int, dict[EventKind, TripEvent]] = {}
    for event in events:
        where, _, line = event.source.rpartition("#")
        assert where == SOURCE
        sides = by_line.setdefault(int(line), {})
        assert event.kind not in sides, f"two {event.kind} events for line {line}"
        sides[event.kind] = event
    return by_line


def coordinate(text: str | None) -> float | None:
    return None if text is None or text == "NA" else float(text)


def rows_of(*lines: str) -> Iterator[list[str]]:
    return iter(csv.reader(io.StringIO("\n".join(lines) + "\n", newline="")))
