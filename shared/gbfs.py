"""Reading a GBFS `station_information` (1.x, 2.x or 3.0) from a file or a URL into one typed list.

    from shared.gbfs import read_station_information, GbfsError
    stations = read_station_information("data/stations/station_information.json")
    stations = read_station_information("http://127.0.0.1:8000/gbfs/2.3/gbfs.json")  # discovery works too
    capacity = {s.canonical_id: s.capacity for s in stations}

Parsing is lenient where real feeds are not schema-clean (integer ids and region ids, numbers as
strings, 3.0 localized names, a missing `version`), strict where a value would be wrong: a file or URL
that cannot be read, is not JSON, holds no `data.stations`, or a station without an id or with
coordinates out of range raises `GbfsError` naming the source and the reason. A capacity that is
missing or not a non-negative integer becomes None (unknown), never a guess.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LANGUAGE = "en"
MAX_BYTES = 50_000_000  # a station_information of every system on earth fits many times over


class GbfsError(Exception):
    """A GBFS source that cannot be used; the message names the file or URL and why."""


@dataclass(frozen=True, slots=True)
class GbfsStation:
    station_id: str  # the feed's station_id
    short_name: str | None
    name: str
    lat: float
    lon: float
    capacity: int | None  # None: the feed does not say
    region_id: str | None

    @property
    def canonical_id(self) -> str:
        """This project's station id: the short_name when there is one (Citi Bike's "6926.01")."""
        return self.short_name or self.station_id


def read_station_information(source: str | Path, timeout_s: float = 10) -> list[GbfsStation]:
    """Every station of a `station_information` file or URL, or of the feed a `gbfs.json` URL/file lists."""
    doc = _load(source, timeout_s)
    data = doc.get("data") if isinstance(doc, dict) else None
    if isinstance(data, dict) and "stations" not in data:
        link = _station_information_link(data)
        if link is None:
            raise GbfsError(f"{source}: neither a station_information (data.stations) nor a gbfs.json listing one")
        return read_station_information(link, timeout_s)
    return parse_station_information(doc, str(source))


def parse_station_information(doc: Any, source: str) -> list[GbfsStation]:
    data = doc.get("data") if isinstance(doc, dict) else None
    stations = data.get("stations") if isinstance(data, dict) else None
    if not isinstance(stations, list):
        raise GbfsError(f"{source}: no data.stations list (is it a GBFS station_information?)")
    return [_station(s, i, source) for i, s in enumerate(stations)]


def _load(source: str | Path, timeout_s: float) -> Any:
    text = str(source)
    try:
        if text.startswith(("http://", "https://")):
            request = urllib.request.Request(
                text, headers={"Accept": "application/json", "Accept-Encoding": "identity"}
            )
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                raw = response.read(MAX_BYTES + 1)
        else:
            with Path(text).open("rb") as file:
                raw = file.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise GbfsError(f"{text}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise GbfsError(f"{text}: cannot be read ({exc})") from exc
    if len(raw) > MAX_BYTES:
        raise GbfsError(f"{text}: larger than {MAX_BYTES:,} bytes; not a station_information")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GbfsError(f"{text}: not JSON ({exc})") from exc


def _station_information_link(data: dict[str, Any]) -> str | None:
    """The station_information URL of a gbfs.json: 3.0 `data.feeds`, 1.x/2.x `data.<language>.feeds`."""
    groups = [data] if "feeds" in data else [data.get(LANGUAGE), *data.values()]
    for group in groups:
        feeds = group.get("feeds") if isinstance(group, dict) else None
        for feed in feeds if isinstance(feeds, list) else []:
            if isinstance(feed, dict) and feed.get("name") == "station_information" and feed.get("url"):
                return str(feed["url"])
    return None


def _text(value: Any) -> str | None:
    """A plain string (1.x/2.x) or a 3.0 localized array (English preferred)."""
    if isinstance(value, list):
        texts = {v.get("language"): v.get("text") for v in value if isinstance(v, dict)}
        value = texts.get(LANGUAGE) or next((t for t in texts.values() if t), None)
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _station(raw: Any, index: int, source: str) -> GbfsStation:
    if not isinstance(raw, dict):
        raise GbfsError(f"{source}: station #{index} is not an object")
    station_id = _text(raw.get("station_id"))
    if station_id is None:
        raise GbfsError(f"{source}: station #{index} has no station_id")
    lat, lon = _number(raw.get("lat")), _number(raw.get("lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise GbfsError(
            f"{source}: station {station_id!r} has no valid lat/lon ({raw.get('lat')!r}, {raw.get('lon')!r})"
        )
    capacity = _number(raw.get("capacity"))
    return GbfsStation(
        station_id=station_id,
        short_name=_text(raw.get("short_name")),
        name=_text(raw.get("name")) or station_id,
        lat=lat,
        lon=lon,
        capacity=int(capacity) if capacity is not None and capacity >= 0 and capacity == int(capacity) else None,
        region_id=_text(raw.get("region_id")),
    )
