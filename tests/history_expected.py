"""What the history view must show, from the trip CSV alone: the availability model's independent
recomputation (`tests.expected_model`, plain `csv`, no project code) read at a moment."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.expected_model import expect


def stations_with_bikes_at(path: Path, at: datetime) -> set[str]:
    """Canonical ids of the stations with at least one bike at `at` (opening stock + trips up to `at`)."""
    return {station for station, (bikes, _) in expect([path]).state_at(at).items() if bikes > 0}


def trips_started(path: Path) -> int:
    """Trips the Frequency table counts: one per trip whose start station is known (at its departure)."""
    return sum(expect([path]).trips_per_minute().values())
