"""Trip rows at the producer's boundary: ids exactly as uuid5 makes them, New York time conversion
exactly as zoneinfo makes it, times with offsets honoured, and the explicit limits of shared/limits.py."""

from __future__ import annotations

import io
import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.producer.row_reader import Plausible, read_document
from services.producer.trip_rows import BadRow, parse_time
from shared import limits
from shared.events import EVENT_NAMESPACE, EventKind, TripEvent, event_id

NEW_YORK = ZoneInfo("America/New_York")
HEADER = (
    "ride_id,rideable_type,started_at,ended_at,start_station_name,start_station_id,end_station_name,"
    "end_station_id,start_lat,start_lng,end_lat,end_lng,member_casual"
)


def test_event_ids_are_uuid5_of_trip_and_kind() -> None:
    rng = random.Random(3)
    trips = ["A1", "", "bike:31956@2018-01-01 13:50:57.4340", "ünïcode ride", *(f"{rng.random()}" for _ in range(500))]
    for trip in trips:
        for kind in EventKind:
            assert event_id(trip, kind) == str(uuid.uuid5(EVENT_NAMESPACE, f"{trip}/{kind.value}"))


def test_new_york_conversion_matches_zoneinfo_every_quarter_hour_across_clock_changes() -> None:
    moment = datetime(2018, 3, 10)  # noqa: DTZ001 - wall-clock
    while moment < datetime(2018, 11, 6):  # noqa: DTZ001
        for fold in (0, 1):
            expected = moment.replace(tzinfo=NEW_YORK, fold=fold).astimezone(UTC)
            assert parse_time(moment.isoformat(" "), fold) == expected, (moment, fold)
        moment += timedelta(minutes=15) if moment.month in (3, 11) else timedelta(hours=7)


def test_a_time_with_an_offset_is_honoured() -> None:
    assert parse_time("2024-09-10T10:00:00+09:00") == datetime(2024, 9, 10, 1, 0, tzinfo=UTC)
    assert parse_time("2024-09-10 10:00:00Z") == datetime(2024, 9, 10, 10, 0, tzinfo=UTC)


def items(*rows: str, plausible: Plausible | None = None) -> list[TripEvent | BadRow]:
    data = (HEADER + "\n" + "\n".join(rows) + "\n").encode()
    return list(read_document("s3://b/k.csv", io.BytesIO(data), plausible or Plausible()))


def trip(ride: str, start: str = "2021-02-01 10:00:00", end: str = "2021-02-01 10:10:00", sid: str = "JC005") -> str:
    return f"{ride},docked_bike,{start},{end},Grove St,{sid},Newport,JC008,40.71,-74.04,40.72,-74.03,member"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (trip("X", "9999-12-31 23:00:00", "9999-12-31 23:30:00"), "out of range"),
        (trip("X", "2012-12-31 10:00:00", "2012-12-31 10:10:00"), "is before 2013-01-01"),
        (trip("X", "2099-01-01 10:00:00", "2099-01-01 10:10:00"), "is after"),
        (trip("X", sid="J" * (limits.STATION_ID_MAX + 1)), f"(limit {limits.STATION_ID_MAX})"),
        (trip("X", sid="JC\x00005"), "control character U+0000"),
        (trip("X").replace("Grove St", "Grove\x07St"), "control character U+0007"),
        (trip("X").replace("Grove St", "G" * 5000), f"(limit {limits.STATION_NAME_MAX})"),
    ],
)
def test_rows_beyond_the_limits_are_bad_rows_and_their_neighbours_go_on(row: str, reason: str) -> None:
    found = items(trip("G1"), row, trip("G2"))
    assert [type(i).__name__ for i in found] == ["TripEvent", "TripEvent", "BadRow", "TripEvent", "TripEvent"]
    bad = found[2]
    assert isinstance(bad, BadRow)
    assert bad.source == "s3://b/k.csv#3"
    assert reason in bad.reason


def test_placeholder_station_ids_become_absent() -> None:
    start, end = items(trip("X", sid="NULL"))
    assert isinstance(start, TripEvent)
    assert isinstance(end, TripEvent)
    assert start.station_id is None
    assert end.station_id == "JC008"


def test_the_plausible_range_is_configurable() -> None:
    window = Plausible(datetime(2021, 2, 1, 16, tzinfo=UTC), datetime(2021, 3, 1, tzinfo=UTC))
    found = items(trip("early"), trip("ok", "2021-02-01 12:00:00", "2021-02-01 12:10:00"), plausible=window)
    assert [type(i).__name__ for i in found] == ["BadRow", "TripEvent", "TripEvent"]


def test_bytes_that_are_not_utf8_and_overlong_lines_are_bad_rows_not_replacement_characters() -> None:
    data = (
        (HEADER + "\n").encode()
        + trip("A").encode().replace(b"Grove", b"Gr\xf6ve")
        + b"\n"
        + trip("B").replace("Grove St", "x" * (limits.MAX_LINE_BYTES * 3)).encode()
        + b"\n"
        + trip("C").encode()
        + b"\n"
    )
    found = list(read_document("k", io.BytesIO(data), Plausible()))
    bad = [i for i in found if isinstance(i, BadRow)]
    assert [(b.source, b.reason.split(":")[0]) for b in bad] == [
        ("k#2", "not UTF-8"),
        ("k#3", bad[1].reason.split(":")[0]),
    ]
    assert "longer than the limit" in bad[1].reason
    assert "\\xf6" in bad[0].payload
    assert "\ufffd" not in bad[0].payload
    assert len(bad[1].payload) <= limits.DEAD_LETTER_PAYLOAD_MAX
    assert [e.trip_id for e in found if isinstance(e, TripEvent)] == ["C", "C"]
