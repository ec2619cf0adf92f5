"""Expected pipeline results computed straight from a trip CSV with the csv module, independently of
the services' own parsing: what Postgres, the API and the dead-letter topic must show afterwards."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")


def _station(raw: str) -> str:
    # The id rules the data needs: a stray trailing underscore ("6569.09_") names the same station, and
    # so does a short name that lost its trailing zero ("5359.1" is "5359.10").
    station = raw.strip().rstrip("_")
    head, dot, decimals = station.partition(".")
    return station + "0" if dot and head.isdigit() and len(decimals) == 1 and decimals.isdigit() else station


@dataclass
class Expected:
    departures: Counter[str] = field(default_factory=Counter)
    arrivals: Counter[str] = field(default_factory=Counter)
    minutes: Counter[datetime] = field(default_factory=Counter)
    without_station: int = 0

    @property
    def events(self) -> int:
        return sum(self.departures.values()) + sum(self.arrivals.values())

    @property
    def stations(self) -> set[str]:
        return set(self.departures) | set(self.arrivals)

    @property
    def with_bikes(self) -> set[str]:
        return {s for s in self.stations if self.arrivals[s] - self.departures[s] > 0}


def from_2021_format(path: Path) -> Expected:
    """For the 2021+ format (ride_id, started_at, start_station_id, ...)."""
    out = Expected()
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            for side, counter in (("start", out.departures), ("end", out.arrivals)):
                station = _station(row[f"{side}_station_id"])
                if not station:
                    out.without_station += 1
                    continue
                counter[station] += 1
                local = datetime.fromisoformat(row["started_at" if side == "start" else "ended_at"])
                utc = local.replace(tzinfo=NEW_YORK).astimezone(UTC)
                out.minutes[utc.replace(second=0, microsecond=0)] += 1
    return out
