"""services.producer.trip_rows on synthetic rows of every header era and bad input; replay order; CSVs and zips."""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import IO

import pytest

from services.producer.documents import documents, text_lines
from services.producer.replay import order_events
from services.producer.trip_rows import BadRow, FormatError, split_rows
from shared.events import EventKind, TripEvent, event_id
from tests.unit.trip_files import BAD_ROWS, DATA_ROWS, ERA_D_HEADER, SOURCE, SUBWAY_FILE, TRIP_FILES, load, rows_of, utc

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


def test_zero_coordinates_stay_as_written() -> None:
    # The enricher decides (a known station takes the catalogue's position; an unknown one at 0.0,0.0 is
    # dead-lettered with those coordinates in the reason).
    row = GOOD_1.replace("40.74901271,-73.98848395", "0.0,0.0")
    start, end = split_rows(rows_of(ERA_D_HEADER, row), SOURCE)
    assert isinstance(start, TripEvent)
    assert isinstance(end, TripEvent)
    assert (start.lat, start.lon) == (40.76727216, -73.99392888)
    assert (end.lat, end.lon) == (0.0, 0.0)


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


def csv_rows(stream: IO[bytes]) -> list[list[str]]:
    return list(csv.reader(text_lines(stream, [])))


def test_documents_reads_a_plain_csv_with_a_bom() -> None:
    raw = TRIP_FILES["JC-202102"].read_bytes()
    found = list(documents("2021/JC-202102.csv", io.BytesIO(b"\xef\xbb\xbf" + raw)))
    assert [name for name, _ in found] == ["2021/JC-202102.csv"]
    rows = csv_rows(found[0][1])
    with TRIP_FILES["JC-202102"].open(newline="") as fh:
        expected = list(csv.reader(fh))
    assert rows == expected
    assert rows[0][0] == "ride_id"
    items = list(split_rows(iter(rows), SOURCE))
    good = DATA_ROWS["JC-202102"] - BAD_ROWS["JC-202102"]
    assert sum(isinstance(i, TripEvent) for i in items) == 2 * good


def test_documents_reads_the_csvs_inside_a_zip() -> None:
    raw = TRIP_FILES["JC-202102"].read_bytes()
    small = ERA_D_HEADER + "\n" + GOOD_1 + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("JC-202102-citibike-tripdata.csv", raw)
        archive.writestr("__MACOSX/._JC-202102-citibike-tripdata.csv", b"\x00\x05\x16\x07 mac resource fork")
        archive.writestr("2018/chunk.csv", "\ufeff" + small)
        archive.writestr("README.txt", "not a csv")
    found = {name: csv_rows(stream) for name, stream in documents("trips.zip", buffer)}
    assert list(found) == ["trips.zip!2018/chunk.csv", "trips.zip!JC-202102-citibike-tripdata.csv"]
    with TRIP_FILES["JC-202102"].open(newline="") as fh:
        assert found["trips.zip!JC-202102-citibike-tripdata.csv"] == list(csv.reader(fh))
    assert found["trips.zip!2018/chunk.csv"] == list(csv.reader(io.StringIO(small)))
    assert found["trips.zip!2018/chunk.csv"][0][0] == "tripduration"
