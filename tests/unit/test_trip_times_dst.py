"""Trips across the autumn clock change get their true duration and order (pre-2021 `tripduration`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.producer.trip_rows import split_rows
from shared.events import TripEvent
from tests.unit.trip_files import ERA_D_HEADER, SOURCE, rows_of


def era_d(start: str, end: str, duration: int) -> str:
    return (
        f'{duration},"{start}","{end}",72,"W 52 St & 11 Ave",40.76727216,-73.99392888,505,"6 Ave & W 33 St",'
        '40.74901271,-73.98848395,31956,"Subscriber",1992,1'
    )


def times(row: str, header: str = ERA_D_HEADER) -> tuple[datetime, datetime]:
    start, end = split_rows(rows_of(header, row), SOURCE)
    assert isinstance(start, TripEvent)
    assert isinstance(end, TripEvent)
    return start.event_time, end.event_time


def utc(hour: int, minute: int) -> datetime:
    return datetime(2019, 11, 3, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "duration", "expected"),
    [
        # 01:20 EDT -> 01:40 EST: 80 minutes, not 20
        ("2019-11-03 01:20:00.0000", "2019-11-03 01:40:00.0000", 4800, (utc(5, 20), utc(6, 40))),
        # starts in the repeated hour's second pass (EST)
        ("2019-11-03 01:50:00.0000", "2019-11-03 02:10:00.0000", 1200, (utc(6, 50), utc(7, 10))),
        # 01:50 EDT -> 01:10 EST: the end reads earlier on the clock
        ("2019-11-03 01:50:00.0000", "2019-11-03 01:10:00.0000", 1200, (utc(5, 50), utc(6, 10))),
        # 00:50 EDT -> 01:30 EST: 100 minutes
        ("2019-11-03 00:50:00.0000", "2019-11-03 01:30:00.0000", 6000, (utc(4, 50), utc(6, 30))),
        # an ordinary trip is untouched
        ("2019-11-03 12:00:00.0000", "2019-11-03 12:10:00.0000", 600, (utc(17, 0), utc(17, 10))),
    ],
)
def test_tripduration_decides_the_reading_of_the_repeated_hour(
    start: str, end: str, duration: int, expected: tuple[datetime, datetime]
) -> None:
    got = times(era_d(start, end, duration))
    assert got == expected
    assert (got[1] - got[0]).total_seconds() == duration


def test_without_a_duration_an_end_before_the_start_is_read_in_the_second_pass() -> None:
    header = (
        "ride_id,rideable_type,started_at,ended_at,start_station_name,start_station_id,end_station_name,"
        "end_station_id,start_lat,start_lng,end_lat,end_lng,member_casual"
    )
    row = "R1,classic_bike,2021-11-07 01:50:00,2021-11-07 01:10:00,A,1.01,B,2.02,40.7,-74.0,40.7,-74.0,member"
    start, end = times(row, header)
    assert (start, end) == (datetime(2021, 11, 7, 5, 50, tzinfo=UTC), datetime(2021, 11, 7, 6, 10, tzinfo=UTC))
