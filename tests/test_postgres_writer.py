"""The sink's transaction on a real Postgres: exact tables, idempotent replays, a NOTIFY per batch."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from services.spark_sink.postgres_writer import staging_row, write_events
from shared.schema import NOTIFY_CHANNEL

pytestmark = pytest.mark.stack


def event(n: int, kind: str, station: str, minute: int, bike: str | None = None) -> tuple[object, ...]:
    return staging_row(
        {
            "event_id": str(uuid.UUID(int=n)),
            "event_time": f"2024-09-01T12:{minute:02d}:30+00:00",
            "kind": kind,
            "bike_id": bike,
            "station_id": station,
            "street": f"Street {station}",
            "lat": 40.7,
            "lon": -73.9,
            "trip_id": f"trip-{n}",
        }
    )


BATCH = [
    event(1, "start", "A", 0, "b1"),
    event(2, "end", "B", 5, "b1"),
    event(3, "end", "B", 5),
    event(4, "start", "B", 7),
    event(3, "end", "B", 5),
]  # the last one repeats event 3


async def test_batch_writes_each_table_once_per_event(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        result = await write_events(conn, 0, BATCH)
        assert (result.events, result.inserted) == (5, 4)
        availability = {r["station_id"]: r["bikes"] for r in await conn.fetch("SELECT * FROM availability")}
        assert availability == {"A": -1, "B": 1}
        frequency = {r["minute"]: r["amount"] for r in await conn.fetch("SELECT * FROM frequency")}
        assert frequency == {
            datetime(2024, 9, 1, 12, 0, tzinfo=UTC): 1,
            datetime(2024, 9, 1, 12, 5, tzinfo=UTC): 2,
            datetime(2024, 9, 1, 12, 7, tzinfo=UTC): 1,
        }
        assert await conn.fetchval("SELECT street FROM location WHERE station_id = 'B'") == "Street B"
        assert await conn.fetchval("SELECT bike_id FROM records WHERE event_id = $1", uuid.UUID(int=2)) == "b1"

        replay = await write_events(conn, 0, BATCH)  # Spark re-runs a batch after a crash
        assert replay.inserted == 0
        again = {r["station_id"]: r["bikes"] for r in await conn.fetch("SELECT * FROM availability")}
        assert again == availability
        assert await conn.fetchval("SELECT sum(amount) FROM frequency") == 4
    finally:
        await conn.close()


async def test_listeners_hear_the_batch_id_after_commit(fresh_database: str) -> None:
    listener = await asyncpg.connect(fresh_database)
    writer = await asyncpg.connect(fresh_database)
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[3]))
        await write_events(writer, 7, [event(10, "end", "C", 1)])
        assert await asyncio.wait_for(heard.get(), timeout=10) == "7"
        await write_events(writer, 8, [event(10, "end", "C", 1)])  # nothing new: no push
        await write_events(writer, 9, [event(11, "end", "C", 2)])
        assert await asyncio.wait_for(heard.get(), timeout=10) == "9"
    finally:
        await listener.close()
        await writer.close()
