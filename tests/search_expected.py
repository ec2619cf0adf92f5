"""Expected answers of the address search, computed here independently of `shared.geo`.

Plain `json`, `re` and `math` on the station catalogue: the grid is rotated 29°, a street block is
80 m along the avenues, and the avenues are placed at the median crosstown position of the catalogue's
stations named "<avenue> & E|W <n> St" (n in 14..110). The tests seed Postgres's contract tables with
real catalogue stations and compare the search with this.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

CATALOGUE = Path(__file__).resolve().parents[1] / "data" / "stations" / "station_information.json"
ONE_PARK_AVENUE = (40.7461, -73.9816)  # the block between 32nd and 33rd St, east of Park Ave
# West to east; each avenue with the names the catalogue uses for it.
AVENUES = [
    ("11 Ave", "West End Ave"), ("10 Ave", "Amsterdam Ave"), ("9 Ave", "Columbus Ave"), ("8 Ave", "Central Park W"),
    ("7 Ave",), ("6 Ave",), ("5 Ave",), ("Madison Ave",), ("Park Ave",), ("Lexington Ave",), ("3 Ave",), ("2 Ave",),
    ("1 Ave",), ("York Ave",),
]  # fmt: skip
_ANGLE = math.radians(29.0)
_LAT0, _LON0 = 40.75, -73.98


def grid_frame(lat: float, lon: float) -> tuple[float, float]:
    """(metres uptown along the avenues, metres crosstown to the west)."""
    x = (lon - _LON0) * 111_320.0 * math.cos(math.radians(_LAT0))
    y = (lat - _LAT0) * 111_132.0
    return x * math.sin(_ANGLE) + y * math.cos(_ANGLE), -x * math.cos(_ANGLE) + y * math.sin(_ANGLE)


def catalogue() -> list[dict[str, Any]]:
    stations: list[dict[str, Any]] = json.loads(CATALOGUE.read_text())["data"]["stations"]
    return stations


def avenue_positions() -> list[float]:
    """Crosstown position of each avenue in `AVENUES`, west to east (decreasing)."""
    positions = []
    for names in AVENUES:
        values = []
        for s in catalogue():
            parts = [p.strip() for p in s["name"].split("&")]
            if len(parts) != 2 or s["lat"] < 40.70:
                continue
            for a, b in (parts, parts[::-1]):
                street = re.fullmatch(r"[EW] (\d+) St", b)
                if a in names and street and 14 <= int(street.group(1)) <= 110:
                    values.append(grid_frame(s["lat"], s["lon"])[1])
        positions.append(statistics.median(values))
    return positions


def avenue_index(v: float, positions: list[float]) -> float:
    for i in range(len(positions) - 1):
        if positions[i] >= v >= positions[i + 1] or i == len(positions) - 2 or (i == 0 and v > positions[0]):
            return i + (positions[i] - v) / (positions[i] - positions[i + 1])
    raise AssertionError("unreachable")


def grid_blocks(a: tuple[float, float], b: tuple[float, float], positions: list[float]) -> float:
    ua, va = grid_frame(*a)
    ub, vb = grid_frame(*b)
    return abs(ua - ub) / 80.0 + abs(avenue_index(va, positions) - avenue_index(vb, positions))


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (a[1] - b[1]) * 111_320.0 * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(dx, (a[0] - b[0]) * 111_132.0)


def stations_near(point: tuple[float, float], within_m: float) -> list[dict[str, Any]]:
    return [s for s in catalogue() if metres(point, (s["lat"], s["lon"])) <= within_m]


async def seed(dsn: str, stations: list[dict[str, Any]], bikes: dict[str, int], batch_id: int = 1) -> None:
    """Write the stations into the contract tables (`location`, `availability`) of a fresh database."""
    conn = await asyncpg.connect(dsn)
    try:
        now = datetime(2024, 9, 1, 12, 0, tzinfo=UTC)
        await conn.executemany(
            "INSERT INTO location (station_id, street, lat, lon) VALUES ($1, $2, $3, $4)",
            [(s["short_name"], s["name"], s["lat"], s["lon"]) for s in stations],
        )
        await conn.executemany(
            "INSERT INTO availability (station_id, bikes, ebikes, capacity, last_event_time, batch_id)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (s["short_name"], bikes[s["short_name"]], bikes[s["short_name"]] // 3, s["capacity"], now, batch_id)
                for s in stations
            ],
        )
    finally:
        await conn.close()


async def push(dsn: str, station_id: str, bikes: int, batch_id: int) -> None:
    """What the sink does for a batch: change a station's row, then NOTIFY the batch id."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE availability SET bikes = $2, batch_id = $3 WHERE station_id = $1", station_id, bikes, batch_id
            )
            await conn.execute("SELECT pg_notify('availability_changed', $1)", str(batch_id))
    finally:
        await conn.close()
