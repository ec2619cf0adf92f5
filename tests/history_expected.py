"""What the history view must show, computed from a 2021+ format trip CSV with the csv module alone
(independently of the pipeline). `stations_with_bikes_at` is the one rule to swap if the availability
model's documented rule changes.

The rule (README "availability model", files without bike ids): per station and bike type (e-bike or
not), the running count arrivals - departures in event-time order (arrivals first at equal times); the
opening stock is minus its lowest point (0 if it never goes below zero), standing there from the first
event on. Bikes at T = opening stock + arrivals - departures with event time <= T.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from tests.expected import NEW_YORK, _station


def _utc(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=NEW_YORK).astimezone(UTC)


def _events(path: Path) -> list[tuple[datetime, int, str, bool]]:
    """(event time UTC, +1 arrival / -1 departure, station id as written, e-bike), rows without a station left out."""
    out = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            ebike = row["rideable_type"] == "electric_bike"
            for side, delta, column in (("start", -1, "started_at"), ("end", 1, "ended_at")):
                raw = row[f"{side}_station_id"].strip()
                if raw:
                    out.append((_utc(row[column]), delta, raw, ebike))
    out.sort(key=lambda e: (e[0], -e[1]))  # arrivals first at equal times
    return out


def stations_with_bikes_at(path: Path, at: datetime) -> set[str]:
    """Canonical ids of the stations with at least one bike at `at` (opening stock + net flow)."""
    running: dict[tuple[str, bool], int] = defaultdict(int)
    lowest: dict[tuple[str, bool], int] = defaultdict(int)
    flow_until: dict[str, int] = defaultdict(int)
    for time, delta, raw, ebike in _events(path):
        key = (raw, ebike)
        running[key] += delta
        lowest[key] = min(lowest[key], running[key])
        if time <= at:
            flow_until[_station(raw)] += delta
    bikes: dict[str, int] = defaultdict(int)
    for (raw, _), low in lowest.items():
        bikes[_station(raw)] += -low
    for station, flow in flow_until.items():
        bikes[station] += flow
    return {station for station, n in bikes.items() if n > 0}


def trips_started(path: Path) -> int:
    """Trips the Frequency table counts: one per trip whose start station is known (at its departure)."""
    with path.open(newline="") as f:
        return sum(1 for row in csv.DictReader(f) if row["start_station_id"].strip())
