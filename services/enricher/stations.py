"""One station, one id: trip-file station ids mapped to the GBFS station catalogue.

Trip files of 2021 onward name stations by the GBFS `short_name` ("6170.02", "JC005"); older files by
a legacy integer id ("72", Jersey City "3183"), which was the GBFS `station_id` of its day. The catalogue
decides, never a pattern alone (`3593.1` is a real short name, distinct from `3593.10`). In order:

1. the id as written (whitespace, a stray trailing "_" and a float rendering "72.0" removed) is a short name;
2. it is a short name that lost its trailing zero ("5359.1" -> "5359.10") and the shorter one is not itself
   in the catalogue;
3. it is a catalogue station's legacy id (GBFS `station_id`);
4. the station's name (spacing and case aside) is a catalogue name within `NAME_MATCH_M` metres of the
   trip's coordinates (or anywhere, when the trip has none and the name is unique);
5. the trip's coordinates are within `POSITION_MATCH_M` metres of a catalogue station (the nearest).

What matches none keeps its own (cleaned) id: it is counted as unmatched, never renamed by guesswork.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from geopy.point import Point

from shared.gbfs import GbfsStation, read_station_information

_FLOAT_INT = re.compile(r"^(\d+)\.0+$")
_ONE_DECIMAL = re.compile(r"^\d+\.\d$")
# A generous box around the Citi Bike service area (NYC and Jersey City).
LAT_RANGE = (40.4, 41.1)
LON_RANGE = (-74.3, -73.6)
NAME_MATCH_M = 250.0
"""A legacy station whose name is a catalogue name is that station if it stood within this distance."""
POSITION_MATCH_M = 30.0
"""A legacy station with another name is the nearest catalogue station if that one is this close
(a dock moved across the street or renamed "W 13 St & Hudson St" -> "Hudson St & W 13 St")."""
_CELL = 0.001  # degrees: ~111 m of latitude, ~84 m of longitude here; a 3x3 block covers 30 m


def canonical_station_id(raw: str) -> str:
    """The id as written, cleaned of spacing, stray trailing underscores and a float rendering ("72.0")."""
    text = raw.strip().rstrip("_").strip()
    if match := _FLOAT_INT.match(text):
        return match.group(1)
    return text


def canonical_street(name: str) -> str:
    return " ".join(name.split())


def in_service_area(lat: float, lon: float) -> bool:
    return LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance: exact to centimetres at the scale of a street corner."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6_371_000.0 * math.hypot(x, math.radians(lat2 - lat1))


@dataclass(frozen=True)
class Station:
    station_id: str
    """The canonical id: the catalogue's short name."""
    name: str
    point: Point
    legacy_id: str | None = None
    capacity: int | None = None


class StationCatalogue:
    def __init__(self, stations: list[Station]) -> None:
        self._by_id = {s.station_id: s for s in stations}
        self._by_legacy = {s.legacy_id: s for s in stations if s.legacy_id}
        self._by_name: dict[str, list[Station]] = {}
        self._grid: dict[tuple[int, int], list[Station]] = {}
        for s in stations:
            self._by_name.setdefault(_name_key(s.name), []).append(s)
            self._grid.setdefault(_cell(s.point.latitude, s.point.longitude), []).append(s)
        self._cache: dict[tuple[str, str | None, float | None, float | None], Station | None] = {}

    @classmethod
    def from_entries(cls, entries: list[GbfsStation]) -> StationCatalogue:
        return cls(
            [
                Station(canonical_station_id(e.canonical_id), e.name, Point(e.lat, e.lon), e.station_id, e.capacity)
                for e in entries
            ]
        )

    @classmethod
    def from_gbfs(cls, source: Path | str) -> StationCatalogue:
        """The catalogue of a GBFS station_information file or URL (`shared.gbfs.GbfsError` if unusable)."""
        return cls.from_entries(read_station_information(source))

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._by_id

    def resolve(
        self, station_id: str, name: str | None = None, lat: float | None = None, lon: float | None = None
    ) -> Station | None:
        """The catalogue station a trip file's station is, or None (see the module docstring for the rules).
        Remembered per (id, name, position): a legacy station repeats them on every trip."""
        key = (station_id, name, lat, lon)
        try:
            return self._cache[key]
        except KeyError:
            pass
        if len(self._cache) > 100_000:
            self._cache.clear()
        found = self._cache[key] = self._match(station_id, name, lat, lon)
        return found

    def _match(self, station_id: str, name: str | None, lat: float | None, lon: float | None) -> Station | None:
        cleaned = canonical_station_id(station_id)
        if (found := self._by_id.get(cleaned)) is not None:
            return found
        if _ONE_DECIMAL.match(cleaned) and (found := self._by_id.get(cleaned + "0")) is not None:
            return found
        if (found := self._by_legacy.get(cleaned)) is not None:
            return found
        position = (lat, lon) if lat is not None and lon is not None and in_service_area(lat, lon) else None
        if name:
            same_name = self._by_name.get(_name_key(name), [])
            if position is not None:
                near = [s for s in same_name if _distance(s, *position) <= NAME_MATCH_M]
                if near:
                    return min(near, key=lambda s: _distance(s, *position))
            elif len(same_name) == 1:
                return same_name[0]
        if position is not None:
            return self.nearest(*position, POSITION_MATCH_M)
        return None

    def locate(self, station_id: str, name: str | None) -> Station | None:
        """`resolve` without coordinates (kept for callers that have none)."""
        return self.resolve(station_id, name)

    def nearest(self, lat: float, lon: float, within_m: float) -> Station | None:
        row, col = _cell(lat, lon)
        reach = max(1, math.ceil(within_m / 80.0))
        candidates = [
            s
            for dr in range(-reach, reach + 1)
            for dc in range(-reach, reach + 1)
            for s in self._grid.get((row + dr, col + dc), [])
        ]
        best = min(candidates, key=lambda s: _distance(s, lat, lon), default=None)
        return best if best is not None and _distance(best, lat, lon) <= within_m else None


def _name_key(name: str) -> str:
    return canonical_street(name).lower()


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return (math.floor(lat / _CELL), math.floor(lon / _CELL))


def _distance(station: Station, lat: float, lon: float) -> float:
    return distance_m(lat, lon, station.point.latitude, station.point.longitude)
