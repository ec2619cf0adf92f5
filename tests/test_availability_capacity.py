"""Capacity from the GBFS catalogue: loaded into `station_info` at sink start, followed by availability;
a catalogue that cannot be read stops the sink and the enricher, naming the file and the reason."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from devstack import paths
from devstack.stack import Stack
from services.spark_sink.postgres_writer import staging_row, write_events
from services.spark_sink.station_info import load_station_info

pytestmark = pytest.mark.stack

CATALOGUE = paths.ROOT / "data" / "stations" / "station_information.json"


def with_capacity(path: Path, station: str, capacity: int) -> Path:
    """A copy of the bundled catalogue in which one station has another capacity."""
    doc = json.loads(CATALOGUE.read_text())
    for s in doc["data"]["stations"]:
        if s["short_name"] == station:
            s["capacity"] = capacity
    path.write_text(json.dumps(doc))
    return path


async def test_the_catalogue_fills_station_info_and_availability_follows_it(
    fresh_database: str, tmp_path: Path
) -> None:
    stations = json.loads(CATALOGUE.read_text())["data"]["stations"]
    expected = {s["short_name"]: s for s in stations}
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await load_station_info(conn, CATALOGUE) == len(expected) == 2226
        row = await conn.fetchrow("SELECT * FROM station_info WHERE station_id = '6926.01'")
        known = expected["6926.01"]
        assert (row["name"], row["lat"], row["lon"], row["capacity"]) == (
            known["name"],
            known["lat"],
            known["lon"],
            known["capacity"],
        )
        assert row["legacy_id"] == known["station_id"]
        assert row["source"] == str(CATALOGUE)
        event = {
            "event_id": "00000000-0000-0000-0000-000000000001",
            "event_time": "2024-09-01T12:00:00+00:00",
            "kind": "end",
            "bike_id": None,
            "station_id": "6926.01",
            "street": "as the trip file spells it",
            "lat": 40.0,
            "lon": -74.0,
            "trip_id": "t1",
        }
        await write_events(conn, 0, [staging_row(event)])
        state = await conn.fetchrow("SELECT bikes, capacity, docks FROM availability WHERE station_id = '6926.01'")
        assert tuple(state) == (1, known["capacity"], known["capacity"] - 1)
        assert await conn.fetchval("SELECT street FROM location WHERE station_id = '6926.01'") == known["name"]
        # A newer catalogue with another capacity: the current state follows at the next start.
        await load_station_info(conn, with_capacity(tmp_path / "newer.json", "6926.01", 1))
        state = await conn.fetchrow("SELECT capacity, docks, over_capacity FROM availability")
        assert tuple(state) == (1, 0, False)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("service", "content", "reason"), [("spark_sink", None, "cannot be read"), ("enricher", "{not json", "not JSON")]
)
async def test_an_unreadable_catalogue_stops_the_service_naming_it(
    stack: Stack, fresh_database: str, tmp_path: Path, service: str, content: str | None, reason: str
) -> None:
    path = tmp_path / "station_information.json"
    if content is not None:
        path.write_text(content)
    env = {
        **stack.service_env(service),
        "BIKESHARE_POSTGRES_DSN": fresh_database,
        "BIKESHARE_STATION_CATALOGUE": str(path),
        "BIKESHARE_LOG_FORMAT": "text",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", f"services.{service}"],
        env=env,
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-2000:]
    assert str(path) in output
    assert reason in output
