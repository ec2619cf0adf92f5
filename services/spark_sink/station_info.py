"""The station catalogue (GBFS `station_information`, a file or URL) into `station_info`, at sink start.

Capacity and names come from here: `availability.capacity` (hence free docks) and `location`'s name and
position follow the catalogue for every station it knows. A catalogue that cannot be read raises
`shared.gbfs.GbfsError` naming the file or URL and the reason; the sink stops on it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shared.gbfs import GbfsStation, read_station_information

logger = logging.getLogger(__name__)

_STAGE = """
CREATE TEMP TABLE catalogue (
    station_id text, name text, lat double precision, lon double precision, capacity integer,
    legacy_id text, region_id text, source text
) ON COMMIT DROP
"""
_UPSERT = """
INSERT INTO station_info (station_id, name, lat, lon, capacity, legacy_id, region_id, source)
SELECT * FROM catalogue
ON CONFLICT (station_id) DO UPDATE SET name = excluded.name, lat = excluded.lat, lon = excluded.lon,
    capacity = excluded.capacity, legacy_id = excluded.legacy_id, region_id = excluded.region_id,
    source = excluded.source
"""
# Stations already in the tables take the catalogue's capacity, name and position (a restart with a newer
# catalogue); the history keeps the docks it was written with.
_FOLLOW = (
    """UPDATE availability a SET capacity = s.capacity FROM station_info s
       WHERE s.station_id = a.station_id AND a.capacity IS DISTINCT FROM s.capacity""",
    """UPDATE location l SET street = s.name, lat = s.lat, lon = s.lon FROM station_info s
       WHERE s.station_id = l.station_id AND (l.street, l.lat, l.lon) IS DISTINCT FROM (s.name, s.lat, s.lon)""",
)


def catalogue_rows(stations: list[GbfsStation], source: str) -> list[tuple[object, ...]]:
    """One row per canonical id (the short name); a later duplicate wins, as a feed's last word."""
    rows: dict[str, tuple[object, ...]] = {}
    for s in stations:
        canonical = s.canonical_id.strip()
        rows[canonical] = (canonical, s.name, s.lat, s.lon, s.capacity, s.station_id, s.region_id, source)
    return list(rows.values())


async def load_station_info(conn: Any, source: str | Path) -> int:
    """Read the catalogue and upsert it into `station_info`; returns the number of stations."""
    rows = catalogue_rows(read_station_information(source), str(source))
    async with conn.transaction():
        await conn.execute(_STAGE)
        await conn.copy_records_to_table(
            "catalogue",
            records=rows,
            columns=("station_id", "name", "lat", "lon", "capacity", "legacy_id", "region_id", "source"),
        )
        await conn.execute(_UPSERT)
        for statement in _FOLLOW:
            await conn.execute(statement)
    unknown = sum(1 for r in rows if r[4] is None)
    logger.info("station catalogue: %d stations (%d of unknown capacity) from %s", len(rows), unknown, source)
    return len(rows)
