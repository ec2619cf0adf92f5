"""The gazetteer: street crossings and station names from the GBFS station catalogue.

Citi Bike names most stations after the crossing they stand at ("W 52 St & 11 Ave"), so the catalogue
is a ready list of ~2,000 intersections with coordinates. It answers intersection and station-name
queries directly, and its Manhattan crossings are what `grid.py` fits the street grid to.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from shared.geo.frame import in_manhattan
from shared.geo.streets import Street, normalise

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "stations" / "station_information.json"


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float
    manhattan: bool


@dataclass(frozen=True)
class Crossing:
    """A catalogue station at the crossing of two streets."""

    first: Street
    second: Street
    place: Place


def name_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def crossing_key(a: Street, b: Street) -> frozenset[str]:
    return frozenset((a.key, b.key))


class Gazetteer:
    def __init__(self, places: list[Place]) -> None:
        self.crossings: list[Crossing] = []
        self._by_crossing: dict[frozenset[str], list[Place]] = defaultdict(list)
        self._by_name: dict[str, Place] = {}
        for place in places:
            self._by_name.setdefault(name_key(place.name), place)
            parts = [p for p in re.split(r"\s*(?:&| and )\s*", place.name) if p]
            if len(parts) != 2:
                continue
            first, second = normalise(parts[0]), normalise(parts[1])
            if first is None or second is None or first == second:
                continue
            self.crossings.append(Crossing(first, second, place))
            self._by_crossing[crossing_key(first, second)].append(place)

    @classmethod
    def from_catalogue(cls, path: Path = CATALOGUE) -> Gazetteer:
        """Read a GBFS station_information.json (any version with data.stations[].name/lat/lon)."""
        stations = json.loads(path.read_text())["data"]["stations"]
        places = [
            Place(s["name"], float(s["lat"]), float(s["lon"]), in_manhattan(float(s["lat"]), float(s["lon"])))
            for s in stations
            if s.get("name") and s.get("lat") is not None and s.get("lon") is not None
        ]
        return cls(places)

    def crossing(self, a: Street, b: Street) -> list[Place]:
        """Stations at the crossing of two streets; a numbered street written without East/West
        matches both sides."""
        found = list(self._by_crossing.get(crossing_key(a, b), ()))
        for one, other in ((a, b), (b, a)):
            if one.kind == "street" and not one.direction and one.number is not None:
                for side in ("E", "W"):
                    sided = Street("street", f"{side} {one.number} St", one.number, side)
                    found.extend(self._by_crossing.get(crossing_key(sided, other), ()))
        return found

    def station(self, text: str) -> Place | None:
        return self._by_name.get(name_key(text))
