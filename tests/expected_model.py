"""What a replay must produce, recomputed from trip CSVs with `csv` (no project code): the rows and their
events, the opening stock, what the enricher keeps, and the availability model at any moment.

The rules written here follow the README ("How availability is computed"), independently of the services:
times are New York wall clock (the autumn repeated hour read with `tripduration` when the file has it),
event ids are uuid5 of the trip identity (the documented scheme), a bike stands at the station of its
latest arrival (or opening stock) until its next event, anonymous events move ±count bikes.
"""

from __future__ import annotations

import csv
import itertools
import re
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.expected_catalogue import Catalogue, in_area

NEW_YORK = ZoneInfo("America/New_York")
EVENT_NAMESPACE = uuid.UUID("6f1c2a52-3f4e-5b7a-9a51-8f0d2c1b7e43")  # shared/events.py documents the scheme
KIND_ORDER = {"stock": 0, "end": 1, "start": 2}
HEADER = {
    "starttime": "start_time",
    "startedat": "start_time",
    "stoptime": "end_time",
    "endedat": "end_time",
    "startstationid": "start_id",
    "startstationname": "start_name",
    "startstationlatitude": "start_lat",
    "startlat": "start_lat",
    "startstationlongitude": "start_lon",
    "startlng": "start_lon",
    "endstationid": "end_id",
    "endstationname": "end_name",
    "endstationlatitude": "end_lat",
    "endlat": "end_lat",
    "endstationlongitude": "end_lon",
    "endlng": "end_lon",
    "bikeid": "bike_id",
    "rideid": "ride_id",
    "rideabletype": "rideable_type",
    "tripduration": "duration",
}
FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")


@dataclass(frozen=True)
class Ev:
    event_id: uuid.UUID
    kind: str
    time: datetime
    raw_station: str | None
    name: str | None
    lat: float | None
    lon: float | None
    bike: str | None
    rideable: str | None
    count: int = 1

    @property
    def key(self) -> tuple[datetime, int, uuid.UUID]:
        return (self.time, KIND_ORDER[self.kind], self.event_id)


@dataclass
class Expectation:
    rows: int = 0
    trips: int = 0
    bad_rows: Counter[str] = field(default_factory=Counter)
    events: list[Ev] = field(default_factory=list)
    stock: list[Ev] = field(default_factory=list)
    clean: list[tuple[Ev, str]] = field(default_factory=list)
    """every event the enricher keeps, with its canonical station"""
    enricher_dead: Counter[str] = field(default_factory=Counter)

    @property
    def stations(self) -> set[str]:
        return {station for _, station in self.clean}

    def state_at(self, at: datetime | None = None) -> dict[str, tuple[int, int]]:
        """(bikes, e-bikes) of every station seen by `at` (all of them when None)."""
        state = {s: [0, 0] for e, s in self.clean if at is None or e.time <= at}
        latest: dict[str, tuple[Ev, str]] = {}
        for e, station in self.clean:
            if at is not None and e.time > at:
                continue
            if e.bike is None:
                sign = -1 if e.kind == "start" else 1
                state[station][0] += sign * e.count
                state[station][1] += sign * e.count if e.rideable == "electric_bike" else 0
            elif e.bike not in latest or e.key > latest[e.bike][0].key:
                latest[e.bike] = (e, station)
        for e, station in latest.values():
            if e.kind != "start":
                state[station][0] += 1
                state[station][1] += e.rideable == "electric_bike"
        return {s: (b, eb) for s, (b, eb) in state.items()}

    def trips_per_minute(self) -> Counter[datetime]:
        return Counter(e.time.replace(second=0, microsecond=0) for e, _ in self.clean if e.kind == "start")

    def rebalanced(self) -> int:
        by_bike: dict[str, list[tuple[Ev, str]]] = defaultdict(list)
        for e, station in self.clean:
            if e.bike is not None:
                by_bike[e.bike].append((e, station))
        moved = 0
        for events in by_bike.values():
            events.sort(key=lambda es: es[0].key)
            for (before, at), (after, station) in itertools.pairwise(events):
                moved += after.kind == "start" and before.kind != "start" and at != station
        return moved


def _local(text: str, fold: int) -> datetime | None:
    for fmt in FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=NEW_YORK, fold=fold).astimezone(UTC)
        except ValueError:
            continue
    return None


def _times(start: str, end: str, duration: str | None) -> tuple[datetime, datetime] | str:
    s0, e0 = _local(start, 0), _local(end, 0)
    if not start or not end:
        return "missing time"
    if s0 is None or e0 is None:
        return "unparseable time"
    s1, e1 = _local(start, 1), _local(end, 1)
    assert s1 is not None
    assert e1 is not None
    if duration and (s0 != s1 or e0 != e1):
        seconds = float(duration)
        fits = [(abs((e - s).total_seconds() - seconds), s, e) for s in (s0, s1) for e in (e0, e1) if e >= s]
        if fits:
            _, s, e = min(fits, key=lambda f: f[0])
            return s, e
    if e0 < s0:
        e0 = e1
    return (s0, e0) if e0 >= s0 else "ends before it starts"


def _coordinate(text: str) -> float | None:
    return None if not text or text.upper() in {"NA", "N/A", "NAN", "NULL", "\\N"} else float(text)


def read_trips(paths: list[Path], into: Expectation) -> None:
    for path in paths:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            names = [HEADER.get(h.strip().strip('"').lower().replace(" ", "").replace("_", "")) for h in header]
            for raw in reader:
                if not raw:
                    continue
                into.rows += 1
                if len(raw) != len(header):
                    into.bad_rows["N fields, header has N"] += 1
                    continue
                row = {n: v.strip() for n, v in zip(names, raw, strict=True) if n}
                times = _times(row["start_time"], row["end_time"], row.get("duration"))
                if isinstance(times, str):
                    into.bad_rows[times + (" (…)" if times == "ends before it starts" else " '…'")] += 1
                    continue
                into.trips += 1
                bike, ride = row.get("bike_id") or None, row.get("ride_id") or None
                trip_id = ride or f"bike:{bike}@{row['start_time']}"
                for kind, side, at in (("start", "start", times[0]), ("end", "end", times[1])):
                    into.events.append(
                        Ev(
                            uuid.uuid5(EVENT_NAMESPACE, f"{trip_id}/{kind}"),
                            kind,
                            at,
                            row.get(f"{side}_id") or None,
                            row.get(f"{side}_name") or None,
                            _coordinate(row.get(f"{side}_lat", "")),
                            _coordinate(row.get(f"{side}_lon", "")),
                            None if ride else bike,
                            row.get("rideable_type") or None,
                        )
                    )


def opening_stock(events: list[Ev]) -> list[Ev]:
    """A bike first seen departing stood there; a net-flow station starts with minus its lowest running count."""
    if not events:
        return []
    first = min(e.time for e in events)
    # The producer's order: event time, then event id as text; arrivals first within an instant.
    ordered = sorted(events, key=lambda e: (e.time, e.kind == "start", str(e.event_id)))
    seen: set[str] = set()
    out: list[Ev] = []
    level: Counter[tuple[str, bool]] = Counter()
    lowest: dict[tuple[str, bool], tuple[int, Ev]] = {}
    for e in ordered:
        if e.bike is not None:
            if e.bike not in seen:
                seen.add(e.bike)
                if e.kind == "start" and e.raw_station:
                    out.append(_stock(f"stock/bike:{e.bike}@{first.isoformat()}", e, first, e.bike, 1))
        elif e.raw_station:
            key = (e.raw_station.strip(), e.rideable == "electric_bike")
            level[key] += 1 if e.kind == "end" else -1
            if level[key] < lowest.get(key, (0, e))[0]:
                lowest[key] = (level[key], e)
    for (station, electric), (low, evidence) in lowest.items():
        kind = "electric_bike" if electric else "classic"
        out.append(_stock(f"stock/station:{station}/{kind}@{first.isoformat()}", evidence, first, None, -low))
    return out


def _stock(trip_id: str, evidence: Ev, at: datetime, bike: str | None, count: int) -> Ev:
    return Ev(
        uuid.uuid5(EVENT_NAMESPACE, f"{trip_id}/stock"),
        "stock",
        at,
        evidence.raw_station,
        evidence.name,
        evidence.lat,
        evidence.lon,
        bike,
        evidence.rideable,
        count,
    )


def enrich(expectation: Expectation, catalogue: Catalogue) -> None:
    for e in [*expectation.stock, *expectation.events]:
        if not e.raw_station or not e.raw_station.strip():
            expectation.enricher_dead[f"{e.kind} event without a station id"] += 1
            continue
        station = catalogue.resolve(e.raw_station, e.name, e.lat, e.lon)
        if station is None:
            if not in_area(e.lat, e.lon):
                expectation.enricher_dead[
                    "station '…' is not in the station catalogue and its coordinates (…) are outside the service area"
                ] += 1
                continue
            station = e.raw_station.strip().rstrip("_").strip()
            station = re.sub(r"^(\d+)\.0+$", r"\1", station)
        expectation.clean.append((e, station))


def expect(paths: list[Path], catalogue: Catalogue | None = None) -> Expectation:
    out = Expectation()
    read_trips(paths, out)
    out.stock = opening_stock(out.events)
    enrich(out, catalogue or Catalogue())
    return out


def moments_between(expectation: Expectation, fractions: tuple[float, ...] = (0.3, 0.6, 0.9)) -> list[datetime]:
    """Moments inside the replay (at the given fractions of its events), a second after an event; with the
    real files, one in each era: 2018 and 2019 (bike tracking), 2024 (net flow)."""
    times = sorted(e.time for e, _ in expectation.clean)
    return [times[int(f * (len(times) - 1))].replace(microsecond=0) + timedelta(seconds=1) for f in fractions]
