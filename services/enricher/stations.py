"""Canonical station ids and an offline station catalogue (the GBFS `station_information` snapshot).

Trip files name stations by the GBFS `short_name` ("6170.02"), older files by a legacy integer id
("72"). Ids are canonicalised textually; coordinates missing from a trip row are taken from the
catalogue (by id, then by name), so no network geocoder sits on the hot path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from geopy.point import Point

_FLOAT_INT = re.compile(r"^(\d+)\.0+$")
_ONE_DECIMAL = re.compile(r"^\d+\.\d$")
# A generous box around the Citi Bike service area (NYC and Jersey City).
LAT_RANGE = (40.4, 41.1)
LON_RANGE = (-74.3, -73.6)


def canonical_station_id(raw: str) -> str:
    """Whitespace and stray trailing underscores removed; "72.0" (a float-rendered int) becomes "72", and
    "5359.1" (a short name that lost its trailing zero as a number) becomes "5359.10" like "5359.10"."""
    text = raw.strip().rstrip("_").strip()
    if match := _FLOAT_INT.match(text):
        return match.group(1)
    return text + "0" if _ONE_DECIMAL.match(text) else text


def canonical_street(name: str) -> str:
    return " ".join(name.split())


def in_service_area(lat: float, lon: float) -> bool:
    return LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]


@dataclass(frozen=True)
class Station:
    station_id: str
    name: str
    point: Point


class StationCatalogue:
    def __init__(self, stations: list[Station]) -> None:
        self._by_id = {s.station_id: s for s in stations}
        self._by_name = {canonical_street(s.name).lower(): s for s in stations}

    @classmethod
    def from_gbfs(cls, path: Path) -> StationCatalogue:
        doc = json.loads(path.read_text())
        stations = [
            Station(
                canonical_station_id(str(s.get("short_name") or s["station_id"])),
                s["name"],
                Point(float(s["lat"]), float(s["lon"])),
            )
            for s in doc["data"]["stations"]
        ]
        return cls(stations)

    def __len__(self) -> int:
        return len(self._by_id)

    def locate(self, station_id: str, name: str | None) -> Station | None:
        found = self._by_id.get(station_id)
        if found is None and name:
            found = self._by_name.get(canonical_street(name).lower())
        return found
