"""Reads station availability from Postgres for the map and its pushes."""

from __future__ import annotations

from typing import Any

_COLUMNS = """
SELECT a.station_id, l.street, l.lat, l.lon, a.bikes, a.ebikes, a.capacity, a.docks, a.last_event_time
FROM availability a JOIN location l USING (station_id)
"""


def station_json(row: Any) -> dict[str, object]:
    return {
        "station_id": row["station_id"],
        "street": row["street"],
        "lat": row["lat"],
        "lon": row["lon"],
        "bikes": row["bikes"],
        "ebikes": row["ebikes"],
        "capacity": row["capacity"],
        "docks": row["docks"],
        "last_event_time": row["last_event_time"].isoformat(),
    }


async def stations_with_bikes(pool: Any) -> list[dict[str, object]]:
    rows = await pool.fetch(_COLUMNS + " WHERE a.bikes > 0 ORDER BY a.station_id")
    return [station_json(r) for r in rows]


async def stations_of_batch(pool: Any, batch_id: int) -> list[dict[str, object]]:
    """Every station a batch changed, including those left without bikes (the map removes them)."""
    rows = await pool.fetch(_COLUMNS + " WHERE a.batch_id = $1 ORDER BY a.station_id", batch_id)
    return [station_json(r) for r in rows]
