"""Raw event bytes to a `CleanEvent`, or a `Rejection` with the reason (pure; no Kafka here)."""

from __future__ import annotations

from dataclasses import dataclass

from services.enricher.stations import StationCatalogue, canonical_station_id, canonical_street, in_service_area
from shared.events import CleanEvent, EventError, decode_trip


@dataclass(frozen=True)
class Rejection:
    reason: str
    event_id: str | None = None


def normalise(payload: bytes, catalogue: StationCatalogue) -> CleanEvent | Rejection:
    try:
        event = decode_trip(payload)
    except EventError as exc:
        return Rejection(f"not a TripEvent: {exc}")
    if not event.station_id:
        return Rejection(f"{event.kind} event without a station id", event.event_id)
    known = catalogue.resolve(event.station_id, event.station_name, event.lat, event.lon)
    station_id = known.station_id if known is not None else canonical_station_id(event.station_id)
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
    street = event.station_name or (known.name if known else None)
    if not street:
        return Rejection(f"station {station_id!r} has no name", event.event_id)
    return CleanEvent(
        event_id=event.event_id,
        trip_id=event.trip_id,
        kind=event.kind,
        event_time=event.event_time,
        station_id=station_id,
        street=canonical_street(street),
        lat=lat,
        lon=lon,
        bike_id=event.bike_id,
        rideable_type=event.rideable_type,
        count=event.count,
        source=event.source,
    )
