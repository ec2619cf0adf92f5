"""The live state as GBFS 2.3 (what Citi Bike publishes) and GBFS 3.0 documents (pure functions).

Rules the feed follows (README "GBFS feed"):
* `last_updated` is the data's clock: the event time of the last committed batch (before the first
  batch: when this replica loaded the state). `ttl` is the sink's trigger interval (setting).
* Every station of the state is in both station_information and station_status, under its canonical
  id (the catalogue's short_name).
* Counts never exceed capacity: bikes are clamped to [0, capacity]; e-bikes to [0, bikes];
  `num_docks_available` = capacity - bikes, omitted while the capacity is unknown. The API keeps the
  raw figures (`over_capacity`).
* A station in the loaded catalogue (or every station when none is loaded) is installed, renting and
  returning; one known only from trip files (retired or unknown to the catalogue) is none of those.
* vehicle_types (classic, ebike) and per-station `vehicle_types_available` are published once the
  data has shown an e-bike, i.e. when the trip files carry rideable types.
3.0 differences: RFC 3339 times, localized names, `num_vehicles_*`, closed `system_information` and
`gbfs.json` (no extra fields), one dataset so no manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.web.stations import StationRow, iso_utc

VERSIONS = ("2.3", "3.0")
FILES = ("gbfs", "system_information", "station_information", "station_status", "vehicle_types")
LANGUAGE = "en"
TIMEZONE = "America/New_York"
CLASSIC, EBIKE = "classic", "ebike"


@dataclass(frozen=True)
class System:
    system_id: str
    name: str
    feed_contact_email: str
    ttl: int
    ebike_range_m: float = 40_000  # nominal; GBFS requires a range for electric vehicle types


@dataclass(frozen=True)
class Counts:
    """A station's counts as published: clamped to capacity."""

    bikes: int
    ebikes: int
    docks: int | None

    @classmethod
    def of(cls, row: StationRow) -> Counts:
        bikes = max(row.bikes, 0)
        if row.capacity is not None:
            bikes = min(bikes, row.capacity)
        ebikes = min(max(row.ebikes, 0), bikes)
        docks = None if row.capacity is None else row.capacity - bikes
        return cls(bikes, ebikes, docks)


def ebikes_known(rows: Sequence[StationRow]) -> bool:
    return any(r.ebikes > 0 for r in rows)


def feed_names(rows: Sequence[StationRow]) -> list[str]:
    names = ["system_information", "station_information", "station_status"]
    return [*names, "vehicle_types"] if ebikes_known(rows) else names


def _time(version: str, moment: datetime) -> int | str:
    return int(moment.timestamp()) if version == "2.3" else iso_utc(moment)


def _text(version: str, text: str) -> str | list[dict[str, str]]:
    return text if version == "2.3" else [{"text": text, "language": LANGUAGE}]


def document(
    version: str, name: str, rows: Sequence[StationRow], updated: datetime, system: System, base_url: str
) -> dict[str, object] | None:
    """One GBFS file (`name` without .json), or None when this feed does not publish it."""
    if version not in VERSIONS:
        return None
    if name == "gbfs":
        data: object = _discovery(version, rows, base_url)
    elif name == "system_information":
        data = _system_information(version, system)
    elif name == "station_information":
        data = {"stations": [_station_information(version, r) for r in rows]}
    elif name == "station_status":
        with_types = ebikes_known(rows)
        data = {"stations": [_station_status(version, r, with_types) for r in rows]}
    elif name == "vehicle_types" and ebikes_known(rows):
        data = {"vehicle_types": _vehicle_types(version, system)}
    else:
        return None
    return {"last_updated": _time(version, updated), "ttl": system.ttl, "version": version, "data": data}


def _discovery(version: str, rows: Sequence[StationRow], base_url: str) -> dict[str, object]:
    base = base_url.rstrip("/")
    feeds = [{"name": n, "url": f"{base}/gbfs/{version}/{n}.json"} for n in ["gbfs", *feed_names(rows)]]
    return {LANGUAGE: {"feeds": feeds}} if version == "2.3" else {"feeds": feeds}


def _system_information(version: str, system: System) -> dict[str, object]:
    if version == "2.3":
        return {
            "system_id": system.system_id,
            "language": LANGUAGE,
            "name": system.name,
            "timezone": TIMEZONE,
            "feed_contact_email": system.feed_contact_email,
        }
    return {
        "system_id": system.system_id,
        "languages": [LANGUAGE],
        "name": _text(version, system.name),
        "opening_hours": "24/7",
        "feed_contact_email": system.feed_contact_email,
        "timezone": TIMEZONE,
    }


def _station_information(version: str, row: StationRow) -> dict[str, object]:
    station: dict[str, object] = {
        "station_id": row.station_id,
        "name": _text(version, row.name),
        "short_name": _text(version, row.station_id),
        "lat": row.lat,
        "lon": row.lon,
    }
    if row.region_id is not None:
        station["region_id"] = row.region_id
    if row.capacity is not None:
        station["capacity"] = row.capacity
    return station


def _station_status(version: str, row: StationRow, with_types: bool) -> dict[str, object]:
    counts = Counts.of(row)
    station: dict[str, object] = {
        "station_id": row.station_id,
        "num_bikes_available" if version == "2.3" else "num_vehicles_available": counts.bikes,
    }
    if with_types:
        station["vehicle_types_available"] = [
            {"vehicle_type_id": CLASSIC, "count": counts.bikes - counts.ebikes},
            {"vehicle_type_id": EBIKE, "count": counts.ebikes},
        ]
    if counts.docks is not None:
        station["num_docks_available"] = counts.docks
    station.update(
        is_installed=row.in_service,
        is_renting=row.in_service,
        is_returning=row.in_service,
        last_reported=_time(version, row.last_event_time),
    )
    return station


def _vehicle_types(version: str, system: System) -> list[dict[str, object]]:
    return [
        {
            "vehicle_type_id": CLASSIC,
            "form_factor": "bicycle",
            "propulsion_type": "human",
            "name": _text(version, "Classic bike"),
        },
        {
            "vehicle_type_id": EBIKE,
            "form_factor": "bicycle",
            "propulsion_type": "electric_assist",
            "max_range_meters": system.ebike_range_m,
            "name": _text(version, "E-bike"),
        },
    ]
