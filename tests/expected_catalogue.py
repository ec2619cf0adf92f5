"""The station catalogue and the id rules, recomputed for tests from the GBFS JSON with `json` and `math`
(independently of services.enricher.stations): which catalogue station a trip file's station is."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CATALOGUE_FILE = REPO / "data" / "stations" / "station_information.json"
NAME_MATCH_M = 250.0
POSITION_MATCH_M = 30.0
SERVICE_AREA = ((40.4, 41.1), (-74.3, -73.6))


@dataclass(frozen=True)
class CatalogueStation:
    short_name: str
    name: str
    lat: float
    lon: float
    capacity: int | None


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


def in_area(lat: float | None, lon: float | None) -> bool:
    (lat0, lat1), (lon0, lon1) = SERVICE_AREA
    return lat is not None and lon is not None and lat0 <= lat <= lat1 and lon0 <= lon <= lon1


def cleaned(raw: str) -> str:
    text = raw.strip().rstrip("_").strip()
    head, dot, tail = text.partition(".")
    return head if dot and head.isdigit() and tail and set(tail) == {"0"} else text


def _name(text: str) -> str:
    return " ".join(text.split()).lower()


class Catalogue:
    def __init__(self, path: Path = CATALOGUE_FILE) -> None:
        raw = json.loads(path.read_text())["data"]["stations"]
        self.stations: dict[str, CatalogueStation] = {}
        self.legacy: dict[str, str] = {}
        for s in raw:
            short = str(s.get("short_name") or s["station_id"]).strip()
            capacity = s.get("capacity")
            self.stations[short] = CatalogueStation(
                short, s["name"], float(s["lat"]), float(s["lon"]), capacity if isinstance(capacity, int) else None
            )
            self.legacy[str(s["station_id"])] = short
        self._memo: dict[tuple[str, str | None, float | None, float | None], str | None] = {}

    def resolve(self, raw: str, name: str | None, lat: float | None, lon: float | None) -> str | None:
        key = (raw, name, lat, lon)
        if key not in self._memo:
            self._memo[key] = self._resolve(raw, name, lat, lon)
        return self._memo[key]

    def _resolve(self, raw: str, name: str | None, lat: float | None, lon: float | None) -> str | None:
        sid = cleaned(raw)
        if sid in self.stations:
            return sid
        if re.fullmatch(r"\d+\.\d", sid) and sid + "0" in self.stations:
            return sid + "0"
        if sid in self.legacy:
            return self.legacy[sid]
        located = in_area(lat, lon)
        if name:
            same = [s for s in self.stations.values() if _name(s.name) == _name(name)]
            if located:
                assert lat is not None
                assert lon is not None
                near = sorted((haversine_m(lat, lon, s.lat, s.lon), s.short_name) for s in same)
                if near and near[0][0] <= NAME_MATCH_M:
                    return near[0][1]
            elif len(same) == 1:
                return same[0].short_name
        if located:
            assert lat is not None
            assert lon is not None
            d, short = min((haversine_m(lat, lon, s.lat, s.lon), s.short_name) for s in self.stations.values())
            return short if d <= POSITION_MATCH_M else None
        return None
