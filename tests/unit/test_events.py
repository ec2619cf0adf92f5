"""shared.events and shared.topics: deterministic event ids, strict models, the Spark DDL, topic names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from shared import topics
from shared.events import (
    EVENT_NAMESPACE,
    CleanEvent,
    DeadLetter,
    EventError,
    EventKind,
    TripEvent,
    decode_trip,
    encode,
    event_id,
    field_names,
    spark_ddl,
)

EDT = timezone(-timedelta(hours=4))
NAMESPACE = uuid.UUID("6f1c2a52-3f4e-5b7a-9a51-8f0d2c1b7e43")  # copied from shared/events.py by hand


def trip_event(**overrides: object) -> TripEvent:
    fields: dict[str, object] = {
        "event_id": "e1",
        "trip_id": "t1",
        "kind": "start",
        "event_time": "2018-01-01T18:50:57.434Z",
        "station_id": "72",
        "station_name": "W 52 St & 11 Ave",
        "lat": 40.76727216,
        "lon": -73.99392888,
        "bike_id": "31956",
        "source": "s3://b/k#2",
    }
    fields.update(overrides)
    return msgspec.convert(fields, TripEvent)


def ddl_pairs(model: type[msgspec.Struct]) -> list[tuple[str, str]]:
    pairs = []
    for column in spark_ddl(model).split(", "):
        name, spark_type = column.split(" ")
        pairs.append((name, spark_type))
    return pairs


def test_event_id_is_uuid5_of_trip_and_kind() -> None:
    assert EVENT_NAMESPACE == NAMESPACE
    assert event_id("x", EventKind.START) == str(uuid.uuid5(NAMESPACE, "x/start"))
    assert event_id("x", EventKind.END) == str(uuid.uuid5(NAMESPACE, "x/end"))
    assert uuid.UUID(event_id("x", EventKind.START)).version == 5


def test_event_id_is_deterministic_and_distinguishes_kind_and_trip() -> None:
    assert event_id("bike:31956@2018-01-01 13:50:57.4340", EventKind.START) == event_id(
        "bike:31956@2018-01-01 13:50:57.4340", EventKind.START
    )
    ids = {event_id(trip, kind) for trip in ("x", "y", "FD772ADA8A3B2363") for kind in (EventKind.START, EventKind.END)}
    assert len(ids) == 6


def test_trip_event_json_round_trips() -> None:
    for event in (
        trip_event(),
        trip_event(
            kind="end",
            station_id=None,
            station_name=None,
            lat=None,
            lon=None,
            bike_id=None,
            rideable_type="classic_bike",
            trip_id="FD772ADA8A3B2363",
        ),
        trip_event(event_time="2024-09-06T16:30:38.511-04:00"),
    ):
        again = decode_trip(encode(event))
        assert again == event
        assert again.event_time == event.event_time


def test_trip_event_keeps_the_instant_of_its_time() -> None:
    event = trip_event(event_time="2024-09-06T16:30:38.511-04:00")
    assert event.event_time == datetime(2024, 9, 6, 20, 30, 38, 511_000, tzinfo=UTC)
    assert event.kind is EventKind.START


def test_trip_event_rejects_a_naive_time() -> None:
    with pytest.raises(EventError, match="timezone"):
        trip_event(event_time="2018-01-01T13:50:57")
    with pytest.raises(EventError, match="timezone"):
        decode_trip(encode(trip_event()).replace(b"Z", b""))


def test_trip_event_rejects_extra_fields_and_unknown_kinds() -> None:
    with pytest.raises(EventError, match="unknown field `colour`"):
        trip_event(colour="blue")
    with pytest.raises(EventError, match="kind"):
        trip_event(kind="middle")
    with pytest.raises(EventError, match="source"):
        decode_trip(b'{"event_id":"e","trip_id":"t","kind":"end","event_time":"2024-09-01T00:00:00Z"}')
    with pytest.raises(TypeError, match="source"):
        TripEvent(event_id="e", trip_id="t", kind=EventKind.END, event_time=datetime.now(UTC))  # type: ignore[call-arg]


def test_events_are_frozen() -> None:
    event = trip_event()
    with pytest.raises(AttributeError):
        event.station_id = "73"  # type: ignore[misc]


def test_spark_ddl_of_clean_event() -> None:
    assert ddl_pairs(CleanEvent) == [
        ("event_id", "STRING"),
        ("trip_id", "STRING"),
        ("kind", "STRING"),
        ("event_time", "STRING"),
        ("station_id", "STRING"),
        ("street", "STRING"),
        ("lat", "DOUBLE"),
        ("lon", "DOUBLE"),
        ("bike_id", "STRING"),
        ("rideable_type", "STRING"),
        ("count", "BIGINT"),
        ("source", "STRING"),
    ]


def test_spark_ddl_names_every_field_once_in_order() -> None:
    for model in (TripEvent, CleanEvent, DeadLetter):
        names = [name for name, _ in ddl_pairs(model)]
        assert names == list(field_names(model))
        assert len(set(names)) == len(names)
    assert ddl_pairs(DeadLetter) == [
        ("stage", "STRING"),
        ("reason", "STRING"),
        ("source", "STRING"),
        ("event_id", "STRING"),
        ("payload", "STRING"),
        ("failed_at", "STRING"),
    ]


def test_spark_ddl_of_other_scalar_types() -> None:
    class Counts(msgspec.Struct, kw_only=True):
        n: int
        maybe: bool | None = None
        when: datetime

    assert spark_ddl(Counts) == "n BIGINT, maybe BOOLEAN, when STRING"


def test_spark_ddl_refuses_types_it_cannot_map() -> None:
    class Mapping(msgspec.Struct):
        counts: dict[str, int]

    class Listing(msgspec.Struct):
        items: list[str]

    class Pair(msgspec.Struct):
        pair: tuple[int, ...]

    # A container is not its first type argument: each must raise, not become STRING or BIGINT.
    for model in (Mapping, Listing, Pair):
        with pytest.raises(TypeError, match="no Spark type"):
            spark_ddl(model)


def test_topics_are_three_distinct_names() -> None:
    assert len(topics.ALL) == 3
    assert len(set(topics.ALL)) == 3
    assert set(topics.ALL) == {topics.RAW, topics.CLEAN, topics.DEAD_LETTER}
    assert all(isinstance(name, str) and name for name in topics.ALL)
