"""services.producer.trip_rows on every real trip file: counts, times, fields and ids.

Expected values come from reading the files with the `csv` module and converting times with `zoneinfo`
here, or are literals worked out by hand; nothing is computed with the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.events import EventKind, TripEvent
from tests.unit.trip_files import (
    BAD_ROWS,
    DATA_ROWS,
    SOURCE,
    TRIP_FILES,
    ParsedFile,
    coordinate,
    events_by_line,
    load,
    split_file,
    utc,
)


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
