"""Raw event bytes to a `CleanEvent`, or a `Rejection` with the reason (pure; no Kafka here).

This is the enricher's boundary check: every field is held to the explicit limits in `shared.limits`
(lengths, characters, a UUID event id, a plausible time, real coordinates), so nothing the sink cannot
store, and nothing that would corrupt the map, reaches the clean topic.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.enricher.stations import StationCatalogue, canonical_station_id, canonical_street, in_service_area
from shared import limits
from shared.events import CleanEvent, EventError, TripEvent, decode_trip


@dataclass(frozen=True)
class Rejection:
    reason: str
    event_id: str | None = None


@dataclass(frozen=True)
class TimeWindow:
    """The plausible event times: from `earliest` to the wall clock plus `future` (checked per batch)."""

    earliest: datetime = limits.EARLIEST_EVENT_TIME
    future: timedelta = limits.MAX_FUTURE
    latest: datetime = field(default_factory=limits.latest_event_time)

    def refreshed(self) -> TimeWindow:
        return TimeWindow(self.earliest, self.future, limits.latest_event_time(future=self.future))


def _bad_field(name: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if len(value) > limit:
        return f"{name} is {len(value)} characters long (limit {limit})"
    if why := limits.bad_text(value):
        return f"{name} has a {why}"
    return None


# Exactly the ids `str(uuid.UUID(x)) == x.lower()` accepts (8-4-4-4-12 ASCII hex digits, either case),
# without building a UUID and its string for every event; anything else takes the slow path for its reason.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _event_id_problem(event_id: str) -> str | None:
    if _CANONICAL_UUID.fullmatch(event_id):
        return None
    try:
        if str(uuid.UUID(event_id)) != event_id.lower():
            return f"event_id {limits.clip(event_id, 64)!r} is not a canonical UUID"
    except ValueError:
        return f"event_id {limits.clip(event_id, 64)!r} is not a UUID"
    return None


def _text_problem(event: TripEvent) -> str | None:
    """The first of the event's free-text fields that is too long or holds a refused character."""
    fields = (
        ("trip_id", event.trip_id, limits.TRIP_ID_MAX),
        ("bike_id", event.bike_id, limits.BIKE_ID_MAX),
        ("rideable_type", event.rideable_type, limits.RIDEABLE_TYPE_MAX),
        ("source", event.source, limits.SOURCE_MAX),
    )
    # One search over the fields joined by a space (a character every field may hold) finds whether any
    # is refused; only then is each checked on its own, for the reason naming the first one.
    if all(value is None or len(value) <= limit for _, value, limit in fields) and not limits.bad_text(
        " ".join(value for _, value, _ in fields if value is not None)
    ):
        return None
    for name, value, limit in fields:
        if why := _bad_field(name, value, limit):
            return why
    return None


def _check(event: TripEvent, window: TimeWindow) -> str | None:
    """The first limit `event` breaks (apart from its station), or None."""
    if why := _event_id_problem(event.event_id):
        return why
    if why := _text_problem(event):
        return why
    if not window.earliest <= event.event_time <= window.latest:
        return (
            f"event_time {event.event_time.isoformat()} is outside the plausible range "
            f"{window.earliest.isoformat()} .. {window.latest.isoformat()}"
        )
    if not 1 <= event.count <= limits.COUNT_MAX:
        return f"count {event.count} is outside 1..{limits.COUNT_MAX}"
    for name, coordinate, (low, high) in (("lat", event.lat, limits.LAT_RANGE), ("lon", event.lon, limits.LON_RANGE)):
        if coordinate is not None and not (math.isfinite(coordinate) and low <= coordinate <= high):
            return f"{name} {coordinate} is not a coordinate ({low}..{high})"
    return None


def _check_station(raw_id: str, station_id: str, name: str | None) -> str | None:
    if station_id.lower() in limits.STATION_ID_PLACEHOLDERS:
        return f"station id {raw_id!r} is a placeholder for a missing value"
    if len(station_id) > limits.STATION_ID_MAX:
        return f"station id is {len(station_id)} characters long (limit {limits.STATION_ID_MAX})"
    if not limits.STATION_ID_PATTERN.fullmatch(station_id):
        return f"station id {limits.clip(station_id, 64)!r} has characters outside [A-Za-z0-9 ._-]"
    return _bad_field("station name", name, limits.STATION_NAME_MAX)


def normalise(payload: bytes, catalogue: StationCatalogue, window: TimeWindow | None = None) -> CleanEvent | Rejection:
    try:
        event = decode_trip(payload)
    except EventError as exc:
        return Rejection(f"not a TripEvent: {limits.clip(str(exc), 200)}")
    if why := _check(event, window or TimeWindow()):
        # A bad id is not echoed as the dead letter's event id: only a valid UUID is an event id.
        return Rejection(why, event.event_id if not why.startswith("event_id") else None)
    if not event.station_id or not event.station_id.strip():
        return Rejection(f"{event.kind} event without a station id", event.event_id)
    station_id = canonical_station_id(event.station_id)
    name = canonical_street(event.station_name) if event.station_name is not None else None
    if why := _check_station(event.station_id, station_id, name):
        return Rejection(why, event.event_id)
    known = catalogue.resolve(event.station_id, name, event.lat, event.lon)
    if known is not None:
        station_id = known.station_id
    if known is not None:
        # The station's own position: trip rows of e-bikes carry the rider's GPS fix instead.
        lat, lon = known.point.latitude, known.point.longitude
    elif event.lat is not None and event.lon is not None and in_service_area(event.lat, event.lon):
        lat, lon = event.lat, event.lon
    else:
        return Rejection(
            f"station {station_id!r} is not in the station catalogue and its coordinates "
            f"({event.lat}, {event.lon}) are outside the service area",
            event.event_id,
        )
    street = name or (known.name if known else None)
    if not street:
        return Rejection(f"station {station_id!r} has no name", event.event_id)
    return CleanEvent(
        event_id=event.event_id.lower(),
        trip_id=event.trip_id,
        kind=event.kind,
        event_time=event.event_time,
        station_id=station_id,
        street=street,
        lat=lat,
        lon=lon,
        bike_id=event.bike_id,
        rideable_type=event.rideable_type,
        count=event.count,
        source=event.source,
    )
