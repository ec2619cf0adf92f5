"""services.producer.trip_rows on every real trip file and header era; replay order; reading CSVs and zips.

Expected values come from reading the files with the `csv` module and converting times with `zoneinfo`
here, or are literals worked out by hand; nothing is computed with the code under test.
"""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.producer.replay import order_events
from services.producer.s3_source import csv_documents
from services.producer.trip_rows import BadRow, FormatError, split_rows
from shared.events import EventKind, TripEvent, event_id

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


@pytest.fixture(scope="module", params=list(TRIP_FILES))
def parsed(request: pytest.FixtureRequest) -> ParsedFile:
    name: str = request.param
    return load(name)


# --- every real trip file -------------------------------------------------------------------------------


def test_independent_row_counts_match_sources_md(parsed: ParsedFile) -> None:
    assert len(parsed.rows) == DATA_ROWS[parsed.name]
    assert sum(row.bad is not None for row in parsed.rows) == BAD_ROWS[parsed.name]


def test_two_events_per_row_minus_bad_rows(parsed: ParsedFile) -> None:
    bad = sum(row.bad is not None for row in parsed.rows)
    assert len(parsed.bad_items) == bad
    assert len(parsed.events) == 2 * len(parsed.rows) - 2 * bad
    assert len(parsed.items) == len(parsed.events) + bad


def test_bad_rows_are_the_ones_found_independently(parsed: ParsedFile) -> None:
    mine = [row for row in parsed.rows if row.bad is not None]
    assert [bad.source for bad in parsed.bad_items] == [f"{SOURCE}#{row.line}" for row in mine]
    for bad, row in zip(parsed.bad_items, mine, strict=True):
        assert row.bad is not None
        assert row.bad in bad.reason
        assert bad.payload == ",".join(row.raw)


def test_every_usable_row_has_one_start_and_one_end_event(parsed: ParsedFile) -> None:
    by_line = events_by_line(parsed.events)
    assert sorted(by_line) == [row.line for row in parsed.good_rows]
    assert all(set(sides) == {EventKind.START, EventKind.END} for sides in by_line.values())


def test_event_times_are_new_york_times_in_utc(parsed: ParsedFile) -> None:
    by_line = events_by_line(parsed.events)
    for row in parsed.good_rows:
        start, end = by_line[row.line][EventKind.START], by_line[row.line][EventKind.END]
        assert start.event_time == row.start, row.raw
        assert end.event_time == row.end, row.raw
        assert start.event_time.utcoffset() == end.event_time.utcoffset() == timedelta(0)


def test_fields_pass_through_as_in_the_csv(parsed: ParsedFile) -> None:
    by_line = events_by_line(parsed.events)
    for row in parsed.good_rows:
        for kind, side in ((EventKind.START, "start"), (EventKind.END, "end")):
            event = by_line[row.line][kind]
            assert event.station_id == row.value(f"{side}_id"), row.raw
            assert event.station_name == row.value(f"{side}_name"), row.raw
            assert event.lat == coordinate(row.value(f"{side}_lat")), row.raw
            assert event.lon == coordinate(row.value(f"{side}_lon")), row.raw
            assert event.bike_id == row.value("bike_id")
            assert event.rideable_type == row.value("rideable_type")
            assert event.source == f"{SOURCE}#{row.line}"


def test_trip_ids_are_ride_ids_when_the_file_has_them(parsed: ParsedFile) -> None:
    by_line = events_by_line(parsed.events)
    for row in parsed.good_rows:
        start, end = by_line[row.line][EventKind.START], by_line[row.line][EventKind.END]
        assert start.trip_id == end.trip_id
        if "ride_id" in row.fields:
            assert start.trip_id == row.fields["ride_id"]
    trip_ids = [by_line[row.line][EventKind.START].trip_id for row in parsed.good_rows]
    assert len(set(trip_ids)) == len({row.trip_key() for row in parsed.good_rows})


def test_event_ids_are_deterministic(parsed: ParsedFile) -> None:
    again = split_file(TRIP_FILES[parsed.name])
    assert [e.event_id for e in again if isinstance(e, TripEvent)] == [e.event_id for e in parsed.events]


def test_event_ids_are_unique_unless_the_data_repeats_a_trip(parsed: ParsedFile) -> None:
    ids = [event.event_id for event in parsed.events]
    distinct_trips = {row.trip_key() for row in parsed.good_rows}
    assert len(distinct_trips) == len(parsed.good_rows), "these files hold no duplicate trips"
    assert len(set(ids)) == len(ids) == 2 * len(distinct_trips)


def test_the_two_201801_chunks_share_no_event_id() -> None:
    first, second = load("201801-1"), load("201801-2")
    keys = {row.trip_key() for row in first.good_rows + second.good_rows}
    assert len(keys) == 30_000
    ids = {e.event_id for e in first.events} | {e.event_id for e in second.events}
    assert len(ids) == 60_000


# --- hand-worked rows of the real files ------------------------------------------------------------------


def test_first_trip_of_201801_by_hand() -> None:
    # 970,"2018-01-01 13:50:57.4340","2018-01-01 14:07:08.1860",72,"W 52 St & 11 Ave",40.76727216,
    # -73.99392888,505,"6 Ave & W 33 St",40.74901271,-73.98848395,31956,"Subscriber",1992,1  (EST = UTC-5)
    sides = events_by_line(load("201801-1").events)[2]
    start, end = sides[EventKind.START], sides[EventKind.END]
    assert start.event_time == datetime(2018, 1, 1, 18, 50, 57, 434_000, tzinfo=UTC)
    assert end.event_time == datetime(2018, 1, 1, 19, 7, 8, 186_000, tzinfo=UTC)
    assert (start.station_id, start.station_name, start.lat, start.lon) == (
        "72",
        "W 52 St & 11 Ave",
        40.76727216,
        -73.99392888,
    )
    assert (end.station_id, end.station_name, end.lat, end.lon) == ("505", "6 Ave & W 33 St", 40.74901271, -73.98848395)
    assert start.bike_id == end.bike_id == "31956"
    assert start.rideable_type is None


def test_first_trip_of_cocteau_by_hand() -> None:
    # "FD772ADA8A3B2363","electric_bike","2024-09-06 16:30:38.511","2024-09-06 16:39:13.554",
    # "Vernon Blvd & 50 Ave","6170.02","Driggs Ave & Lorimer St","5481.04",...  (EDT = UTC-4)
    sides = events_by_line(load("cocteau-202409").events)[2]
    start, end = sides[EventKind.START], sides[EventKind.END]
    assert start.event_time == datetime(2024, 9, 6, 20, 30, 38, 511_000, tzinfo=UTC)
    assert end.event_time == datetime(2024, 9, 6, 20, 39, 13, 554_000, tzinfo=UTC)
    assert start.trip_id == end.trip_id == "FD772ADA8A3B2363"
    assert start.rideable_type == "electric_bike"
    assert (start.station_id, end.station_id) == ("6170.02", "5481.04")
    assert start.bike_id is None


def test_first_trip_of_jc_202102_by_hand() -> None:
    # 121DD7DD23CB1335,docked_bike,2021-02-03 23:11:28,2021-02-03 23:18:28,Hoboken Ave at Monmouth St,
    # JC105,Christ Hospital,JC034,...  (EST = UTC-5)
    sides = events_by_line(load("JC-202102").events)[2]
    start, end = sides[EventKind.START], sides[EventKind.END]
    assert start.event_time == utc(2021, 2, 4, 4, 11, 28)
    assert end.event_time == utc(2021, 2, 4, 4, 18, 28)
    assert (start.trip_id, start.station_id, end.station_id) == ("121DD7DD23CB1335", "JC105", "JC034")


def test_na_coordinates_and_empty_stations_become_none() -> None:
    # Line 5179: "1D218BE29B316B9D","classic_bike",...,"Home St & Westchester Ave","8020.01","","",
    # 40.827629,-73.886659,NA,NA,"casual"
    parsed = load("cocteau-202409")
    end = events_by_line(parsed.events)[5179][EventKind.END]
    assert (end.station_id, end.station_name, end.lat, end.lon) == (None, None, None, None)
    na_rows = [row for row in parsed.rows if row.fields["end_lat"] == "NA"]
    assert [row.line for row in na_rows] == [5179, 8483]
    empty_ids = sum(row.fields[f"{side}_id"] == "" for row in parsed.rows for side in ("start", "end"))
    assert empty_ids == 10 + 36  # SOURCES.md
    assert sum(event.station_id is None for event in parsed.events) == empty_ids


# --- synthetic rows: bad rows, headers, eras ----------------------------------------------------------


GOOD_1 = (
    '970,"2018-01-01 13:50:57.4340","2018-01-01 14:07:08.1860",72,"W 52 St & 11 Ave",40.76727216,'
    '-73.99392888,505,"6 Ave & W 33 St",40.74901271,-73.98848395,31956,"Subscriber",1992,1'
)
GOOD_2 = (
    '723,"2018-01-01 15:33:30.1820","2018-01-01 15:45:33.3410",72,"W 52 St & 11 Ave",40.76727216,'
    '-73.99392888,3255,"8 Ave & W 31 St",40.7505853470215,-73.9946848154068,32536,"Subscriber",1969,1'
)
SHORT = GOOD_1.rsplit(",", 1)[0]  # 14 fields
BAD_TIME = GOOD_1.replace('"2018-01-01 13:50:57.4340"', '"yesterday at noon"')
BACKWARDS = GOOD_1.replace('"2018-01-01 14:07:08.1860"', '"2018-01-01 13:07:08.1860"')
NO_TIME = GOOD_1.replace('"2018-01-01 13:50:57.4340"', '""')


def test_bad_rows_say_why_and_the_other_rows_still_yield_events() -> None:
    rows = rows_of(ERA_D_HEADER, GOOD_1, SHORT, BAD_TIME, BACKWARDS, NO_TIME, GOOD_2)
    items = list(split_rows(rows, SOURCE))
    kinds = [item.kind if isinstance(item, TripEvent) else "bad" for item in items]
    assert kinds == ["start", "end", "bad", "bad", "bad", "bad", "start", "end"]
    bad = [item for item in items if isinstance(item, BadRow)]
    assert [b.source for b in bad] == [f"{SOURCE}#{n}" for n in (3, 4, 5, 6)]
    assert "14 fields" in bad[0].reason
    assert "15" in bad[0].reason
    assert "unparseable time" in bad[1].reason
    assert "yesterday at noon" in bad[1].reason
    assert "ends before it starts" in bad[2].reason
    assert "missing time" in bad[3].reason
    assert bad[0].payload == ",".join(next(csv.reader([SHORT])))
    events = [item for item in items if isinstance(item, TripEvent)]
    assert [e.source for e in events] == [f"{SOURCE}#2"] * 2 + [f"{SOURCE}#7"] * 2
    assert events[2].event_time == datetime(2018, 1, 1, 20, 33, 30, 182_000, tzinfo=UTC)
    assert events[3].bike_id == "32536"


def test_blank_lines_are_skipped_and_keep_line_numbers() -> None:
    items = list(split_rows(rows_of(ERA_D_HEADER, GOOD_1, "", GOOD_2), SOURCE))
    assert all(isinstance(item, TripEvent) for item in items)
    assert [item.source for item in items] == [f"{SOURCE}#2"] * 2 + [f"{SOURCE}#4"] * 2


def test_zero_coordinates_mean_unknown() -> None:
    row = GOOD_1.replace("40.74901271,-73.98848395", "0.0,0.0")
    start, end = split_rows(rows_of(ERA_D_HEADER, row), SOURCE)
    assert isinstance(start, TripEvent)
    assert isinstance(end, TripEvent)
    assert (start.lat, start.lon) == (40.76727216, -73.99392888)
    assert (end.lat, end.lon) == (None, None)


US_HEADER = (
    "tripduration,starttime,stoptime,start station id,start station name,start station latitude,"
    "start station longitude,end station id,end station name,end station latitude,"
    "end station longitude,bikeid,usertype,birth year,gender"
)


@pytest.mark.parametrize(
    ("start_text", "end_text", "start_utc", "end_utc"),
    [
        ("1/1/2015 0:01", "1/1/2015 0:24", utc(2015, 1, 1, 5, 1), utc(2015, 1, 1, 5, 24)),
        ("7/1/2015 00:00:00", "7/1/2015 00:16:40", utc(2015, 7, 1, 4, 0), utc(2015, 7, 1, 4, 16, 40)),
        ("9/30/2014 23:59:59", "10/1/2014 0:10", utc(2014, 10, 1, 3, 59, 59), utc(2014, 10, 1, 4, 10)),
        ("12/31/2016 23:58:02", "1/1/2017 00:03:45", utc(2017, 1, 1, 4, 58, 2), utc(2017, 1, 1, 5, 3, 45)),
    ],
)
def test_us_style_times_of_2014_to_2016_parse(
    start_text: str, end_text: str, start_utc: datetime, end_utc: datetime
) -> None:
    row = (
        f"1346,{start_text},{end_text},455,1 Ave & E 44 St,40.75001986,-73.96905301,265,"
        "Stanton St & Chrystie St,40.72229346,-73.99147535,18660,Subscriber,1960,2"
    )
    items = list(split_rows(rows_of(US_HEADER, row), SOURCE))
    assert [type(item) for item in items] == [TripEvent, TripEvent]
    start, end = items
    assert isinstance(start, TripEvent)
    assert isinstance(end, TripEvent)
    assert (start.event_time, end.event_time) == (start_utc, end_utc)
    assert (start.station_id, end.station_id, start.bike_id) == ("455", "265", "18660")


TITLE_HEADER = (
    '"Trip Duration","Start Time","Stop Time","Start Station ID","Start Station Name",'
    '"Start Station Latitude","Start Station Longitude","End Station ID","End Station Name",'
    '"End Station Latitude","End Station Longitude","Bike ID","User Type","Birth Year","Gender"'
)


def test_title_case_headers_of_2016_10_to_2017_03_work() -> None:
    rows = rows_of(
        TITLE_HEADER,
        "328,2016-10-01 00:00:07,2016-10-01 00:05:35,471,Grand St & Havemeyer St,40.71286844,-73.95698119,"
        "3077,Stagg St & Union Ave,40.70877084,-73.95095259,25254,Subscriber,1992,1",
        "680,2017-01-01 00:00:21,2017-01-01 00:11:41,3226,W 82 St & Central Park West,40.78275,-73.97137,"
        "3165,Central Park West & W 72 St,40.77579376683666,-73.9762057363987,25542,Subscriber,1965,2",
    )
    events = [item for item in split_rows(rows, SOURCE) if isinstance(item, TripEvent)]
    assert len(events) == 4
    assert [e.event_time for e in events] == [
        utc(2016, 10, 1, 4, 0, 7),
        utc(2016, 10, 1, 4, 5, 35),  # EDT = UTC-4
        utc(2017, 1, 1, 5, 0, 21),
        utc(2017, 1, 1, 5, 11, 41),  # EST = UTC-5
    ]
    assert [e.station_id for e in events] == ["471", "3077", "3226", "3165"]
    assert [e.station_name for e in events[:2]] == ["Grand St & Havemeyer St", "Stagg St & Union Ave"]
    assert (events[0].lat, events[0].lon) == (40.71286844, -73.95698119)
    assert [e.bike_id for e in events] == ["25254", "25254", "25542", "25542"]


def test_a_file_that_is_not_a_trip_file_raises_format_error() -> None:
    with SUBWAY_FILE.open(newline="") as fh, pytest.raises(FormatError, match="s3://b/k"):
        list(split_rows(iter(csv.reader(fh)), SOURCE))


@pytest.mark.parametrize(
    "header",
    [
        "name,value",
        "starttime,stoptime,bikeid",  # times but no station at all
        "start station id,start station name,bikeid",  # stations but no times
    ],
)
def test_headers_that_are_not_trip_headers_raise_format_error(header: str) -> None:
    with pytest.raises(FormatError, match="s3://b/k"):
        list(split_rows(rows_of(header, "1,2,3"), SOURCE))


def test_an_empty_file_raises_format_error() -> None:
    with pytest.raises(FormatError, match="empty"):
        list(split_rows(iter([]), SOURCE))
    with pytest.raises(FormatError, match="empty"):
        list(split_rows(iter(csv.reader(io.StringIO(""))), SOURCE))


def test_a_header_without_rows_yields_nothing() -> None:
    assert list(split_rows(rows_of(ERA_D_HEADER), SOURCE)) == []


# --- replay order ------------------------------------------------------------------------------------


def test_order_events_sorts_real_events_by_time_then_id() -> None:
    events = load("JC-202102").events
    ordered = order_events(events)
    assert Counter(e.event_id for e in ordered) == Counter(e.event_id for e in events)
    keys = [(e.event_time, e.event_id) for e in ordered]
    assert all(a <= b for a, b in itertools.pairwise(keys))
    assert [(e.event_time, e.event_id) for e in order_events(events[::-1])] == keys
    # SOURCES.md: this file is not in time order, so sorting really moved things
    assert [e.event_id for e in ordered] != [e.event_id for e in events]


def test_order_events_breaks_ties_by_event_id() -> None:
    noon = datetime(2021, 2, 3, 17, 0, tzinfo=UTC)
    ids = {trip: event_id(trip, EventKind.START) for trip in ("a", "b", "c", "early")}

    def event(trip: str, at: datetime) -> TripEvent:
        return TripEvent(event_id=ids[trip], trip_id=trip, kind=EventKind.START, event_time=at, source=SOURCE)

    tied = [event(trip, noon) for trip in ("a", "b", "c")]
    early = event("early", noon - timedelta(seconds=1))
    for given in ([*tied, early], [early, *tied[::-1]], [tied[1], early, tied[2], tied[0]]):
        ordered = order_events(given)
        assert ordered[0].event_id == ids["early"]
        assert [e.event_id for e in ordered[1:]] == sorted([ids["a"], ids["b"], ids["c"]])


# --- reading objects: CSV with a BOM, zip of CSVs ------------------------------------------------------


def test_csv_documents_reads_a_plain_csv_with_a_bom() -> None:
    raw = TRIP_FILES["JC-202102"].read_bytes()
    documents = list(csv_documents("2021/JC-202102.csv", b"\xef\xbb\xbf" + raw))
    assert [name for name, _ in documents] == ["2021/JC-202102.csv"]
    rows = list(documents[0][1])
    with TRIP_FILES["JC-202102"].open(newline="") as fh:
        expected = list(csv.reader(fh))
    assert rows == expected
    assert rows[0][0] == "ride_id"
    items = list(split_rows(iter(rows), SOURCE))
    good = DATA_ROWS["JC-202102"] - BAD_ROWS["JC-202102"]
    assert sum(isinstance(i, TripEvent) for i in items) == 2 * good


def test_csv_documents_reads_the_csvs_inside_a_zip() -> None:
    raw = TRIP_FILES["JC-202102"].read_bytes()
    small = ERA_D_HEADER + "\n" + GOOD_1 + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("JC-202102-citibike-tripdata.csv", raw)
        archive.writestr("__MACOSX/._JC-202102-citibike-tripdata.csv", b"\x00\x05\x16\x07 mac resource fork")
        archive.writestr("2018/chunk.csv", "\ufeff" + small)
        archive.writestr("README.txt", "not a csv")
    documents = {name: list(rows) for name, rows in csv_documents("trips.zip", buffer.getvalue())}
    assert list(documents) == ["trips.zip!2018/chunk.csv", "trips.zip!JC-202102-citibike-tripdata.csv"]
    with TRIP_FILES["JC-202102"].open(newline="") as fh:
        assert documents["trips.zip!JC-202102-citibike-tripdata.csv"] == list(csv.reader(fh))
    assert documents["trips.zip!2018/chunk.csv"] == list(csv.reader(io.StringIO(small)))
    assert documents["trips.zip!2018/chunk.csv"][0][0] == "tripduration"
