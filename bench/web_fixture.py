"""A Postgres of its own, the contract tables filled with the full Citi Bike station set, and the web
service as a child process: what the web benchmarks and the web tests share.

The station set is `data/stations/station_information.json` (2,226 stations); availability is made
up deterministically (bikes and e-bikes per station from its position in the file) and committed as
batch 1, like the sink would.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from devstack import paths, provision
from devstack.components import Postgres
from devstack.process import ManagedProcess, free_port
from devstack.stack import free_ports
from shared.schema import NOTIFY_CHANNEL

CATALOGUE = paths.ROOT / "data" / "stations" / "station_information.json"
DATABASE = "bikeshare"
FIRST_EVENT = datetime(2024, 9, 10, 12, 0, tzinfo=UTC)


@dataclass
class OwnPostgres:
    postgres: Postgres
    state: Path

    @property
    def admin_dsn(self) -> str:
        return self.postgres.dsn_admin

    @property
    def dsn(self) -> str:
        return self.admin_dsn.rsplit("/", 1)[0] + f"/{DATABASE}"

    @property
    def web_dsn(self) -> str:
        return self.dsn.replace("postgres@", f"{provision.WEB_ROLE}@", 1)

    def stop(self) -> None:
        self.postgres.stop()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)
        shutil.rmtree(self.postgres.dir, ignore_errors=True)


async def start_postgres(name: str) -> OwnPostgres:
    """Postgres alone (no Kafka, no S3) on free ports, migrated, with the stack's login roles."""
    state = paths.LOCAL / "tests" / f"{name}-{uuid.uuid4().hex[:8]}"
    postgres = Postgres(state, free_ports(), state / "logs")
    postgres.start()
    own = OwnPostgres(postgres, state)
    try:
        postgres.wait_ready()
        await provision.create_database(own.admin_dsn, DATABASE)
        await provision.migrate(own.dsn)
        await provision.create_login_roles(own.admin_dsn)
    except BaseException:
        own.remove()
        raise
    return own


def catalogue_stations(path: Path = CATALOGUE) -> list[dict[str, object]]:
    stations: list[dict[str, object]] = json.loads(path.read_text())["data"]["stations"]
    return stations


def made_up_counts(index: int, capacity: int) -> tuple[int, int]:
    """Bikes and e-bikes for the station at `index`: spread over 0..capacity, a few over capacity."""
    bikes = (index * 7) % (capacity + 1) if index % 50 else capacity + 2
    return bikes, bikes // 3


async def fill_contract_tables(dsn: str, path: Path = CATALOGUE) -> int:
    """station_info, location, availability and sink_batches for every station of the catalogue
    (committed as batch 1); returns the number of stations."""
    stations = catalogue_stations(path)
    info, location, availability = [], [], []
    for i, s in enumerate(stations):
        station_id = str(s["short_name"])
        capacity = int(str(s["capacity"]))
        lat, lon = float(str(s["lat"])), float(str(s["lon"]))
        info.append((station_id, s["name"], lat, lon, capacity, str(s["station_id"]), s.get("region_id"), str(path)))
        location.append((station_id, s["name"], lat, lon))
        bikes, ebikes = made_up_counts(i, capacity)
        availability.append((station_id, bikes, ebikes, capacity, FIRST_EVENT + timedelta(seconds=i), 1))
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "station_info",
                records=info,
                columns=["station_id", "name", "lat", "lon", "capacity", "legacy_id", "region_id", "source"],
            )
            await conn.copy_records_to_table(
                "location", records=location, columns=["station_id", "street", "lat", "lon"]
            )
            await conn.copy_records_to_table(
                "availability",
                records=availability,
                columns=["station_id", "bikes", "ebikes", "capacity", "last_event_time", "batch_id"],
            )
            await conn.execute(
                "INSERT INTO sink_batches (batch_id, events, inserted, max_event_time) VALUES (1, $1, $1, $2)",
                len(stations),
                FIRST_EVENT + timedelta(seconds=len(stations) - 1),
            )
    finally:
        await conn.close()
    return len(stations)


async def commit_batch(dsn: str, batch_id: int, changes: dict[str, int], event_time: datetime) -> None:
    """What the sink does for one batch: set `bikes` of some stations, record the batch, NOTIFY."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for station_id, bikes in changes.items():
                await conn.execute(
                    "UPDATE availability SET bikes = $2, batch_id = $3, last_event_time = $4 WHERE station_id = $1",
                    station_id,
                    bikes,
                    batch_id,
                    event_time,
                )
            await conn.execute(
                "INSERT INTO sink_batches (batch_id, events, inserted, max_event_time) VALUES ($1, $2, $2, $3)",
                batch_id,
                len(changes),
                event_time,
            )
            await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(batch_id))
    finally:
        await conn.close()


def web_process(web_dsn: str, logs: Path, **settings: str) -> tuple[ManagedProcess, str]:
    """`python -m services.web` on a free port; returns the process (not started) and its base URL."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BIKESHARE_")},
        "BIKESHARE_POSTGRES_DSN": web_dsn,
        "BIKESHARE_WEB_PORT": str(port),
        "BIKESHARE_LOG_FORMAT": "text",
        **{f"BIKESHARE_{k.upper()}": v for k, v in settings.items()},
    }
    process = ManagedProcess("web", [sys.executable, "-m", "services.web"], logs / "web.log", env=env, cwd=paths.ROOT)
    return process, f"http://127.0.0.1:{port}"
