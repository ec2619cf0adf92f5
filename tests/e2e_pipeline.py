"""The end-to-end pipeline as one session-wide fixture: a stack of its own, the four real services, and
a real trip file (the 2024 sample plus two trips through hostile-named stations) replayed through them.
`tests/test_pipeline_e2e.py` (data, API, websocket) and `tests/test_map_*.py` (the browser) share it,
so the whole pipeline runs once per test session.

Expected values come from `tests/expected.py`, which reads the same CSV with the csv module."""

from __future__ import annotations

import asyncio
import csv
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from devstack import paths, provision
from devstack.process import ManagedProcess
from devstack.services import service_process
from devstack.stack import BUCKET, Stack
from tests.conftest import eventually, shared_file, start_stack, stop_stack
from tests.expected import Expected, from_2021_format

SAMPLE = ("cocteau__Data24", "data", "citibike.csv")
KEY = "e2e/202409-citibike-tripdata.csv"
# Unknown stations with coordinates in the service area: the enricher keeps them with the file's names,
# which must reach the browser as text (issue 7). One trip from a plain-named origin to each, inside the
# sample's month, so both end with a bike on the map.
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_NAME_2 = '"><script>alert(2)</script><b>bold</b>'
HOSTILE_TRIPS = [
    ["E2EHOSTILE000001", "classic_bike", "2024-09-10 12:00:00.000", "2024-09-10 12:10:00.000",
     "Hostile test origin", "XSS.00", HOSTILE_NAME, "XSS.01", "40.7540", "-73.9900", "40.7590", "-73.9845", "member"],
    ["E2EHOSTILE000002", "classic_bike", "2024-09-10 13:00:00.000", "2024-09-10 13:20:00.000",
     "Hostile test origin", "XSS.00", HOSTILE_NAME_2, "XSS.02", "40.7540", "-73.9900", "40.7610", "-73.9790", "member"],
]  # fmt: skip
WEB_ENV = {"BIKESHARE_TILE_URL": "http://127.0.0.1:9/{z}/{x}/{y}.png"}  # no tile server: a plain background


@dataclass
class Pipeline:
    stack: Stack
    expected: Expected
    web_url: str
    trip_file: Path
    services: dict[str, ManagedProcess] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)


def trip_file_with_hostile_names(directory: Path) -> Path:
    """The sample with HOSTILE_TRIPS appended, in the same format."""
    path = directory / "trips-with-hostile-names.csv"
    shutil.copyfile(shared_file(*SAMPLE), path)
    with path.open("a", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_MINIMAL).writerows(HOSTILE_TRIPS)
    return path


@pytest.fixture(scope="session")
def e2e_stack() -> Iterator[Stack]:
    stack = start_stack("e2e")
    try:
        yield stack
    finally:
        stop_stack(stack)


async def count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def pipeline(e2e_stack: Stack) -> AsyncIterator[Pipeline]:
    stack = e2e_stack
    trips = trip_file_with_hostile_names(stack.state)
    expected = from_2021_format(trips)
    await provision.ensure_bucket(stack.s3.endpoint, BUCKET, stack.access_key, stack.secret_key, {KEY: trips})
    services: list[ManagedProcess] = []
    web_url = f"http://127.0.0.1:{stack.ports.web}"
    try:
        for name in ("web", "enricher", "spark_sink"):
            env = {**stack.service_env(name), **(WEB_ENV if name == "web" else {})}
            services.append(service_process(name, env, stack.logs))
            services[-1].start()
        async with aiohttp.ClientSession() as http:

            async def healthy(url: str) -> bool:
                try:
                    async with http.get(url) as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually("web /health", lambda: healthy(f"{web_url}/health"))
            sink_health = f"http://127.0.0.1:{stack.ports.metrics('spark_sink')}/health"
            await eventually("spark sink /health", lambda: healthy(sink_health), deadline_s=300)  # a loaded machine

            result = Pipeline(stack, expected, web_url, trips, {p.name: p for p in services})
            async with http.ws_connect(f"{web_url}/ws") as ws:
                hello = await ws.receive_json(timeout=10)
                assert hello["type"] == "hello"
                producer = await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "services.producer", KEY],
                    env=stack.service_env("producer"),
                    cwd=paths.ROOT,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                assert producer.returncode == 0, producer.stderr[-3000:]

                async def all_recorded() -> bool:
                    return await count(stack.postgres_dsn, "SELECT count(*) FROM records") >= expected.events

                await eventually("all clean events in Postgres", all_recorded, deadline_s=300)
                update = await ws.receive_json(timeout=30)
                result.messages.append(update)
            yield result
    finally:
        for process in reversed(services):
            process.stop()
        for process in services:
            if process.death() and process.proc and process.proc.returncode not in (0, -15, 143):
                sys.stderr.write(f"{process.name} log tail:\n{process.tail(60)}\n")
