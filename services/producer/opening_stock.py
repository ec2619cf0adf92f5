"""Opening stock: the bikes standing at each station before a replay's first trip, estimated from the
files being replayed, published (as `EventKind.STOCK` events) before any trip event.

A pure accumulator, fed every trip event once, in event-time order:

    stock = OpeningStock()
    for event in events_in_event_time_order:      # ties in any order: arrivals are taken first
        stock.add(event)
    for event in stock.events():                   # publish these first, then the trip events
        ...

Memory is bounded by the number of bikes and stations, not of events, so a streaming replay can feed it
in a first pass over its files and publish in a second.

* **Bike tracking** (events with a bike id): a bike whose first event is a departure from S stood at S
  from the start: one STOCK event with its `bike_id` at S.
* **Net flow** (events without a bike id): per station and bike type (e-bike or not), the running count
  arrivals - departures in event-time order (arrivals first at equal times); the opening stock is the
  smallest number that never lets it go below zero: minus its lowest point. One STOCK event with `count`
  per station and type that needs any. Stations are keyed by the id as written, trimmed.

Every STOCK event is stamped with the replay's first event time (and sorts before trips at that time),
and its event id derives from that time and the station or bike, so replaying the same files publishes
the same ids and the sink counts them once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.events import EventKind, TripEvent, event_id

ELECTRIC = "electric_bike"


@dataclass
class _Flow:
    """The running count of one station and bike type, and its lowest point so far."""

    level: int = 0
    lowest: int = 0
    example: TripEvent | None = None
    """the departure that took it lowest: its station name and position go into the STOCK event"""


@dataclass
class OpeningStock:
    first_time: datetime | None = None
    _pending_time: datetime | None = None
    _pending: list[TripEvent] = field(default_factory=list)
    _seen_bikes: set[str] = field(default_factory=set)
    _bikes: dict[str, TripEvent] = field(default_factory=dict)
    """bike id -> its first event, a departure"""
    _flows: dict[tuple[str, bool], _Flow] = field(default_factory=dict)

    def add(self, event: TripEvent) -> None:
        """One trip event, in event-time order (STOCK events and events without a station are ignored)."""
        if event.kind is EventKind.STOCK:
            return
        if self.first_time is None:
            self.first_time = event.event_time
        if self._pending_time is not None and event.event_time < self._pending_time:
            raise ValueError(
                f"event {event.event_id} at {event.event_time.isoformat()} comes after "
                f"{self._pending_time.isoformat()}: OpeningStock needs events in event-time order"
            )
        if event.event_time != self._pending_time:
            self._flush()
            self._pending_time = event.event_time
        self._pending.append(event)

    def _flush(self) -> None:
        # At one instant, arrivals before departures (the sink orders a bike's events the same way).
        for event in sorted(self._pending, key=lambda e: (e.kind is EventKind.START, e.event_id)):
            self._take(event)
        self._pending.clear()

    def _take(self, event: TripEvent) -> None:
        if event.bike_id is not None:
            if event.bike_id not in self._seen_bikes:
                self._seen_bikes.add(event.bike_id)
                if event.kind is EventKind.START and event.station_id:
                    self._bikes[event.bike_id] = event
            return
        if not event.station_id:
            return
        key = (event.station_id.strip(), event.rideable_type == ELECTRIC)
        flow = self._flows.setdefault(key, _Flow())
        flow.level += event.count if event.kind is EventKind.END else -event.count
        if flow.level < flow.lowest:
            flow.lowest, flow.example = flow.level, event

    def events(self) -> list[TripEvent]:
        """The STOCK events, sorted by event id; call after the last `add`."""
        self._flush()
        if self.first_time is None:
            return []
        at = self.first_time
        stamp = at.isoformat()
        out = [
            _stock(f"stock/bike:{bike}@{stamp}", first, at, bike_id=bike, count=1)
            for bike, first in self._bikes.items()
        ]
        for (station, electric), flow in self._flows.items():
            if flow.lowest < 0 and flow.example is not None:
                kind = ELECTRIC if electric else "classic"
                out.append(_stock(f"stock/station:{station}/{kind}@{stamp}", flow.example, at, None, -flow.lowest))
        return sorted(out, key=lambda e: e.event_id)


def _stock(trip_id: str, evidence: TripEvent, at: datetime, bike_id: str | None, count: int) -> TripEvent:
    return TripEvent(
        event_id=event_id(trip_id, EventKind.STOCK),
        trip_id=trip_id,
        kind=EventKind.STOCK,
        event_time=at,
        station_id=evidence.station_id,
        station_name=evidence.station_name,
        lat=evidence.lat,
        lon=evidence.lon,
        bike_id=bike_id,
        rideable_type=evidence.rideable_type,
        count=count,
        source=f"opening stock, from {evidence.source}",
    )
