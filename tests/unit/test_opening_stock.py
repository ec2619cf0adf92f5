"""services.producer.opening_stock: the bikes standing at each station before a replay's first trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.producer.opening_stock import OpeningStock
from shared.events import EventKind, TripEvent, event_id

T0 = datetime(2021, 2, 1, 12, 0, tzinfo=UTC)


def ev(
    n: int, kind: str, station: str | None, minute: int, bike: str | None = None, rideable: str | None = None
) -> TripEvent:
    trip = f"t{n}"
    return TripEvent(
        event_id=event_id(trip, EventKind(kind)),
        trip_id=trip,
        kind=EventKind(kind),
        event_time=T0 + timedelta(minutes=minute),
        station_id=station,
        station_name=f"{station} St",
        lat=40.7,
        lon=-74.0,
        bike_id=bike,
        rideable_type=rideable,
        source=f"s3://b/k#{n}",
    )


def stock_of(events: list[TripEvent]) -> list[TripEvent]:
    stock = OpeningStock()
    for e in sorted(events, key=lambda e: (e.event_time, e.event_id)):
        stock.add(e)
    return stock.events()


def test_a_bike_whose_first_event_is_a_departure_stood_there() -> None:
    events = [
        ev(1, "start", "A", 5, "b1"),
        ev(1, "end", "B", 9, "b1"),
        ev(2, "end", "C", 1, "b2"),  # b2 arrives first: no stock for it
        ev(3, "start", "C", 3, "b2"),
    ]
    out = stock_of(events)
    assert [(e.kind, e.station_id, e.bike_id, e.count, e.event_time) for e in out] == [
        (EventKind.STOCK, "A", "b1", 1, T0 + timedelta(minutes=1))
    ]
    assert out[0].station_name == "A St"
    assert out[0].source == "opening stock, from s3://b/k#1"


def test_net_flow_takes_the_smallest_stock_that_never_goes_negative_per_bike_type() -> None:
    events = [
        ev(1, "start", "A", 1),
        ev(2, "start", "A", 2),
        ev(3, "end", "A", 3),
        ev(4, "start", "A", 4),  # A: -1, -2, -1, -2 -> 2
        ev(5, "end", "B", 1),
        ev(6, "start", "B", 2),  # B never below zero: no stock
        ev(7, "start", "C", 1, rideable="electric_bike"),
        ev(8, "end", "C", 2),
        ev(9, "start", "C", 3, rideable="classic_bike"),  # C: an e-bike left before any arrived
    ]
    out = {(e.station_id, e.rideable_type == "electric_bike"): e.count for e in stock_of(events)}
    assert out == {("A", False): 2, ("C", True): 1}


def test_arrivals_come_first_at_equal_times() -> None:
    events = [ev(1, "start", "A", 1), ev(2, "end", "A", 1)]
    assert stock_of(events) == []
    bike = [ev(3, "start", "A", 1, "b"), ev(4, "end", "A", 1, "b")]
    assert stock_of(bike) == []  # its first event is the arrival


def test_ids_are_the_same_on_every_replay_and_differ_by_start() -> None:
    events = [ev(1, "start", "A", 1, "b1"), ev(2, "start", "B", 2)]
    first, again = stock_of(events), stock_of(list(reversed(events)))
    assert [e.event_id for e in first] == [e.event_id for e in again]
    later = stock_of([ev(1, "start", "A", 61, "b1"), ev(2, "start", "B", 62)])
    assert not {e.event_id for e in first} & {e.event_id for e in later}


def test_events_out_of_order_are_refused() -> None:
    stock = OpeningStock()
    stock.add(ev(1, "start", "A", 5))
    with pytest.raises(ValueError, match="event-time order"):
        stock.add(ev(2, "start", "A", 4))


def test_no_events_no_stock() -> None:
    assert OpeningStock().events() == []
    assert stock_of([ev(1, "start", None, 1), ev(2, "start", None, 2, "b")]) == []
