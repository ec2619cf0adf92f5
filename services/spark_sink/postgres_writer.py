"""One micro-batch into Postgres in one transaction, idempotent on the event id.

Records are inserted with ON CONFLICT DO NOTHING, and Frequency and availability are updated only
from the rows that were really inserted, so a batch Spark replays after a crash changes nothing twice.
After the commit, listeners on `availability_changed` receive the batch id (the web pushes then).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.schema import NOTIFY_CHANNEL

STAGING_COLUMNS = ("event_id", "event_time", "kind", "bike_id", "station_id", "street", "lat", "lon", "trip_id")

_STAGE = """
CREATE TEMP TABLE incoming (
    event_id uuid, event_time timestamptz, kind text, bike_id text, station_id text,
    street text, lat double precision, lon double precision, trip_id text
) ON COMMIT DROP
"""
_INSERT_RECORDS = """
CREATE TEMP TABLE inserted ON COMMIT DROP AS
WITH ins AS (
    INSERT INTO records (event_id, event_time, kind, bike_id, station_id, lat, lon, trip_id, batch_id)
    SELECT DISTINCT ON (event_id) event_id, event_time, kind, bike_id, station_id, lat, lon, trip_id, $1
    FROM incoming ORDER BY event_id
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_time, kind, station_id
)
SELECT * FROM ins
"""
_UPSERT_LOCATION = """
INSERT INTO location (station_id, street, lat, lon)
SELECT DISTINCT ON (station_id) station_id, street, lat, lon
FROM incoming ORDER BY station_id, event_time DESC
ON CONFLICT (station_id) DO UPDATE SET street = excluded.street, lat = excluded.lat, lon = excluded.lon
"""
_UPSERT_AVAILABILITY = """
INSERT INTO availability AS a (station_id, bikes, capacity, last_event_time, batch_id)
SELECT i.station_id, count(*) FILTER (WHERE kind = 'end') - count(*) FILTER (WHERE kind = 'start'),
       min(s.capacity), max(i.event_time), $1
FROM inserted i LEFT JOIN station_info s USING (station_id) GROUP BY i.station_id
ON CONFLICT (station_id) DO UPDATE SET
    bikes = a.bikes + excluded.bikes,
    capacity = excluded.capacity,
    last_event_time = greatest(a.last_event_time, excluded.last_event_time),
    batch_id = excluded.batch_id,
    updated_at = now()
"""
_UPSERT_FREQUENCY = """
INSERT INTO frequency AS f (minute, amount)
SELECT date_trunc('minute', event_time), count(*) FROM inserted GROUP BY 1
ON CONFLICT (minute) DO UPDATE SET amount = f.amount + excluded.amount
"""


@dataclass(frozen=True)
class BatchResult:
    batch_id: int
    events: int
    inserted: int


def staging_row(event: dict[str, Any]) -> tuple[object, ...]:
    """A parsed clean event (Spark row as dict) as a staging-table tuple."""
    return (
        uuid.UUID(event["event_id"]),
        datetime.fromisoformat(event["event_time"]),
        event["kind"],
        event["bike_id"],
        event["station_id"],
        event["street"],
        event["lat"],
        event["lon"],
        event["trip_id"],
    )


async def write_events(conn: Any, batch_id: int, rows: Iterable[tuple[object, ...]]) -> BatchResult:
    rows = list(rows)
    async with conn.transaction():
        await conn.execute(_STAGE)
        await conn.copy_records_to_table("incoming", records=rows, columns=STAGING_COLUMNS)
        await conn.execute(_INSERT_RECORDS, batch_id)
        inserted = int(await conn.fetchval("SELECT count(*) FROM inserted"))
        await conn.execute(_UPSERT_LOCATION)
        await conn.execute(_UPSERT_AVAILABILITY, batch_id)
        await conn.execute(_UPSERT_FREQUENCY)
        await conn.execute(
            "INSERT INTO sink_batches (batch_id, events, inserted, max_event_time) "
            "VALUES ($1, $2, $3, (SELECT max(event_time) FROM inserted)) ON CONFLICT (batch_id) DO NOTHING",
            batch_id,
            len(rows),
            inserted,
        )
        if inserted:
            await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(batch_id))
    return BatchResult(batch_id, len(rows), inserted)
