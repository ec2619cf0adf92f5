"""Reads station availability from Postgres: every station (at start and after a reconnect), the
stations some batches changed (on each NOTIFY), and the data's clock.

Names are bounded in SQL, so a hostile 100 kB station name never leaves Postgres in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ELLIPSIS = "…"

_COLUMNS = """
SELECT a.station_id,
       CASE WHEN length(l.street) > $1 THEN left(l.street, $1 - 1) || '…' ELSE l.street END AS name,
       l.lat, l.lon, a.bikes, a.ebikes, a.capacity, a.docks, a.over_capacity, a.last_event_time, a.batch_id,
       s.region_id, (s.station_id IS NOT NULL OR NOT EXISTS (SELECT 1 FROM station_info)) AS in_service
FROM availability a JOIN location l USING (station_id) LEFT JOIN station_info s USING (station_id)
"""
_CLOCK = "SELECT max(batch_id) AS batch_id, max(max_event_time) AS as_of FROM sink_batches"


@dataclass(frozen=True, slots=True)
class StationRow:
    """One station's current state, as the API, the websocket and the GBFS feed publish it."""

    station_id: str
    name: str
    lat: float
    lon: float
    bikes: int
    ebikes: int
    capacity: int | None
    docks: int | None
    over_capacity: bool
    last_event_time: datetime
    batch_id: int
    region_id: str | None
    # In the loaded catalogue (or no catalogue is loaded): installed, renting and returning.
    in_service: bool

    def as_json(self) -> dict[str, object]:
        """The Station JSON of the data contract."""
        return {
            "station_id": self.station_id,
            "name": self.name,
            "lat": self.lat,
            "lon": self.lon,
            "bikes": self.bikes,
            "ebikes": self.ebikes,
            "docks": self.docks,
            "capacity": self.capacity,
            "over_capacity": self.over_capacity,
            "last_event_time": iso_utc(self.last_event_time),
        }


@dataclass(frozen=True, slots=True)
class DataClock:
    batch_id: int | None
    as_of: datetime | None


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _row(record: Any) -> StationRow:
    return StationRow(
        station_id=record["station_id"],
        name=record["name"],
        lat=record["lat"],
        lon=record["lon"],
        bikes=int(record["bikes"]),
        ebikes=int(record["ebikes"]),
        capacity=record["capacity"],
        docks=record["docks"],
        over_capacity=bool(record["over_capacity"]),
        last_event_time=record["last_event_time"],
        batch_id=int(record["batch_id"]),
        region_id=record["region_id"],
        in_service=bool(record["in_service"]),
    )


async def all_stations(conn: Any, name_max: int) -> list[StationRow]:
    rows = await conn.fetch(_COLUMNS + " ORDER BY a.station_id", name_max)
    return [_row(r) for r in rows]


async def stations_of_batches(conn: Any, batch_ids: list[int], name_max: int) -> list[StationRow]:
    """Every station these batches changed (a later batch may since have taken some over: it brings them)."""
    where = " WHERE a.batch_id = ANY($2::bigint[]) ORDER BY a.station_id"
    rows = await conn.fetch(_COLUMNS + where, name_max, batch_ids)
    return [_row(r) for r in rows]


async def data_clock(conn: Any) -> DataClock:
    record = await conn.fetchrow(_CLOCK)
    return DataClock(record["batch_id"], record["as_of"])
