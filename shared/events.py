"""The typed events that flow through the pipeline, one module imported by every service.

Every Citi Bike format era becomes the same `TripEvent`; the enricher turns it into a `CleanEvent`
or a `DeadLetter`. Event ids are deterministic (uuid5 of the trip identity and the event kind), so a
replay of the same file produces the same ids and the sink can upsert on them.
"""

from __future__ import annotations

import types
import typing
import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EVENT_NAMESPACE = uuid.UUID("6f1c2a52-3f4e-5b7a-9a51-8f0d2c1b7e43")


class EventKind(StrEnum):
    START = "start"
    END = "end"


def event_id(trip_id: str, kind: EventKind) -> str:
    """The id of one side of one trip: stable across replays, runs and machines."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{trip_id}/{kind.value}"))


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TripEvent(_Event):
    """A bike leaving (start) or arriving at (end) a station, as read from one trip row."""

    event_id: str
    trip_id: str
    kind: EventKind
    event_time: AwareDatetime
    station_id: str | None = None
    station_name: str | None = None
    lat: float | None = None
    lon: float | None = None
    bike_id: str | None = None
    rideable_type: str | None = None
    source: str = Field(description="s3://bucket/key#row the event was split from")


class CleanEvent(_Event):
    """A validated event with a canonical station id, a street name and coordinates."""

    event_id: str
    trip_id: str
    kind: EventKind
    event_time: AwareDatetime
    station_id: str
    street: str
    lat: float
    lon: float
    bike_id: str | None = None
    rideable_type: str | None = None
    source: str


class DeadLetter(_Event):
    """A record the pipeline could not use, kept with where it came from and why."""

    stage: str = Field(description="which service gave up on it: producer or enricher")
    reason: str
    source: str = Field(description="s3://bucket/key#row, or topic/partition@offset")
    event_id: str | None = None
    payload: str
    failed_at: AwareDatetime


_SPARK_TYPES: dict[object, str] = {
    str: "STRING",
    int: "BIGINT",
    float: "DOUBLE",
    bool: "BOOLEAN",
    EventKind: "STRING",
    # Spark's JSON reader is strict about timestamp formats; the sink casts the ISO string itself.
    AwareDatetime: "STRING",
    datetime: "STRING",
}


def _spark_type(annotation: object) -> str:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _spark_type(inner)
    if annotation in _SPARK_TYPES:
        return _SPARK_TYPES[annotation]
    if typing.get_origin(annotation) is typing.Annotated:  # e.g. AwareDatetime
        return _spark_type(typing.get_args(annotation)[0])
    raise TypeError(f"no Spark type for {annotation!r}")


def spark_ddl(model: type[BaseModel]) -> str:
    """The model as a Spark DDL schema string, so the sink never hand-writes a drifting StructType."""
    return ", ".join(f"{name} {_spark_type(field.annotation)}" for name, field in model.model_fields.items())
