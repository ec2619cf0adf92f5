"""The history API's parameter rules: what is accepted, and the message for what is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.web.history_params import (
    AUTO_POINTS,
    MAX_POINTS,
    BadParameter,
    Range,
    parse_range,
    parse_station_id,
    parse_step,
    parse_time,
)
from services.web.map_page import tile_origin

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DAY = Range(datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 9, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-09-30T14:05:00Z", datetime(2024, 9, 30, 14, 5, tzinfo=UTC)),
        ("2024-09-30T10:05:00-04:00", datetime(2024, 9, 30, 14, 5, tzinfo=UTC)),
        # '+' arrives as a space when a client forgets to encode it
        ("2024-09-30T16:05:00 02:00", datetime(2024, 9, 30, 14, 5, tzinfo=UTC)),
        ("2024-09-30T14:05:00.123+00:00", datetime(2024, 9, 30, 14, 5, 0, 123000, tzinfo=UTC)),
    ],
)
def test_times_with_an_offset_are_read_as_that_instant(raw: str, expected: datetime) -> None:
    assert parse_time(raw, "at", now=NOW) == expected


def test_absent_time_is_none() -> None:
    assert parse_time(None, "at") is None
    assert parse_time("", "at") is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2024-09-30T14:05:00", "needs a zone offset or Z"),
        ("yesterday", "must be an ISO 8601 time"),
        ("2024-13-01T00:00Z", "must be an ISO 8601 time"),
        ("2012-12-31T23:59Z", "must lie between 2013-01-01"),
        ("2026-01-02T01:00Z", "must lie between"),
        ("9999-12-31T00:00Z", "must lie between"),
        ("2024-09-30T14:05:00Z" + "0" * 60, "is longer than 64 characters"),
        ("<script>", "must be an ISO 8601 time"),
    ],
)
def test_bad_times_are_refused_with_the_reason(raw: str, message: str) -> None:
    with pytest.raises(BadParameter, match="^parameter 'at' " + message):
        parse_time(raw, "at", now=NOW)


@pytest.mark.parametrize("raw", ["6926.01", "JC005", "SYS-038", "a_b"])
def test_station_ids(raw: str) -> None:
    assert parse_station_id(raw) == raw


@pytest.mark.parametrize("raw", ["", "x" * 65, "<img>", "a b", ".hidden", "a/b", "é"])
def test_bad_station_ids(raw: str) -> None:
    with pytest.raises(BadParameter, match="station id"):
        parse_station_id(raw)


def test_range_defaults_and_order() -> None:
    assert parse_range(None, None, default=DAY) == DAY
    to = parse_range(None, "2024-09-10T00:00Z", default=DAY)
    assert to.end - to.start == timedelta(days=1)
    start = parse_range("2024-09-10T00:00Z", None, default=DAY)
    assert start.start == datetime(2024, 9, 10, tzinfo=UTC)
    with pytest.raises(BadParameter, match="must be before"):
        parse_range("2024-09-10T00:00Z", "2024-09-09T00:00Z", default=DAY)
    with pytest.raises(BadParameter, match="more than 31 days"):
        parse_range("2024-01-01T00:00Z", "2024-03-01T00:00Z", default=DAY, max_span=timedelta(days=31))


def test_step_is_chosen_to_bound_the_points() -> None:
    assert parse_step(None, Range(DAY.start, DAY.start + timedelta(hours=6))) == "1m"
    assert parse_step(None, DAY) == "1m"  # 1,440 minutes <= AUTO_POINTS
    assert parse_step(None, Range(DAY.start, DAY.start + timedelta(days=10))) == "15m"
    assert parse_step(None, Range(DAY.start, DAY.start + timedelta(days=60))) == "1h"
    assert parse_step(None, Range(DAY.start, DAY.start + timedelta(days=3000))) == "1d"
    assert 1440 <= AUTO_POINTS < MAX_POINTS


def test_bad_steps() -> None:
    with pytest.raises(BadParameter, match="is not one of 1m, 15m, 1h, 1d"):
        parse_step("5s", DAY)
    with pytest.raises(BadParameter, match="more than 5000 points"):
        parse_step("1m", Range(DAY.start, DAY.start + timedelta(days=4)))


@pytest.mark.parametrize(
    ("template", "origin"),
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
        ("http://127.0.0.1:8080/{z}/{x}/{y}.png", "http://127.0.0.1:8080"),
        ("", None),
        ("javascript:alert(1)//{z}", None),
    ],
)
def test_tile_origin_for_the_content_security_policy(template: str, origin: str | None) -> None:
    assert tile_origin(template) == origin
