"""Expected pipeline results computed straight from a trip CSV with the csv module, independently of
the services' own parsing: what Postgres, the API and the dead-letter topic must show afterwards.

The availability model (opening stock, bike tracking, net flow) is recomputed in `tests.expected_model`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.expected_model import expect


@dataclass
class Expected:
    departures: Counter[str] = field(default_factory=Counter)
    """trip starts per canonical station"""
    arrivals: Counter[str] = field(default_factory=Counter)
    """trip ends per canonical station"""
    minutes: Counter[datetime] = field(default_factory=Counter)
    """trips started per minute (UTC instants; a New York minute is the same instant)"""
    without_station: int = 0
    bikes: dict[str, int] = field(default_factory=dict)
    """bikes per station at the end, under the model (opening stock included)"""
    events: int = 0
    """clean events: both sides of every trip with a station, and the opening stock"""
    stock_events: int = 0

    @property
    def stations(self) -> set[str]:
        return set(self.bikes)

    @property
    def with_bikes(self) -> set[str]:
        return {s for s, n in self.bikes.items() if n > 0}


def from_2021_format(path: Path) -> Expected:
    """For one trip file (any era; the name is historical)."""
    model = expect([path])
    out = Expected(
        minutes=model.trips_per_minute(),
        without_station=sum(n for reason, n in model.enricher_dead.items() if "without a station id" in reason),
        bikes={s: bikes for s, (bikes, _) in model.state_at().items()},
        events=len(model.clean),
        stock_events=len(model.stock),
    )
    for event, station in model.clean:
        if event.kind == "start":
            out.departures[station] += 1
        elif event.kind == "end":
            out.arrivals[station] += 1
    return out
