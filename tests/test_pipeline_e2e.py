"""End to end on a stack of its own: a real trip file in S3 -> producer -> Kafka -> enricher (faust)
-> Kafka -> Spark sink -> Postgres -> web API, websocket and a real browser.

Expected values come from `tests/expected.py`, which reads the same CSV with the csv module."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest

from devstack import paths, provision
from devstack.process import ManagedProcess
from devstack.services import service_process
from devstack.stack import BUCKET, Stack
from shared import topics
from tests.conftest import eventually, read_topic, shared_file, start_stack, stop_stack
from tests.expected import Expected, from_2021_format

pytestmark = pytest.mark.stack

SAMPLE = ("cocteau__Data24", "data", "citibike.csv")
KEY = "e2e/202409-citibike-tripdata.csv"


@dataclass
class Pipeline:
    stack: Stack
    expected: Expected
    web_url: str
    messages: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def own_stack() -> Iterator[Stack]:
    stack = start_stack("e2e")
    try:
        yield stack
    finally:
        stop_stack(stack)


async def _count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def pipeline(own_stack: Stack) -> AsyncIterator[Pipeline]:
    stack = own_stack
    sample = shared_file(*SAMPLE)
    expected = from_2021_format(sample)
    await provision.ensure_bucket(stack.s3.endpoint, BUCKET, stack.access_key, stack.secret_key, {KEY: sample})
    services: list[ManagedProcess] = []
    web_url = f"http://127.0.0.1:{stack.ports.web}"
    try:
        for name in ("web", "enricher", "spark_sink"):
            services.append(service_process(name, stack.service_env(name), stack.logs))
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
            await eventually("spark sink /health", lambda: healthy(sink_health), deadline_s=120)

            result = Pipeline(stack, expected, web_url)
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
                    return await _count(stack.postgres_dsn, "SELECT count(*) FROM records") >= expected.events

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


async def test_postgres_holds_exactly_the_csv_events(pipeline: Pipeline) -> None:
    expected = pipeline.expected
    conn = await asyncpg.connect(pipeline.stack.postgres_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM records") == expected.events
        rows = await conn.fetch("SELECT station_id, bikes FROM availability")
        assert {r["station_id"]: r["bikes"] for r in rows} == expected.bikes
        assert {r["station_id"] for r in await conn.fetch("SELECT station_id FROM location")} == expected.stations
        minutes = {r["minute"]: r["amount"] for r in await conn.fetch("SELECT minute, amount FROM frequency")}
        assert minutes == dict(expected.minutes)
    finally:
        await conn.close()


async def test_rows_without_a_station_are_dead_lettered_with_the_reason(pipeline: Pipeline) -> None:
    dead = await read_topic(pipeline.stack.kafka.bootstrap, topics.DEAD_LETTER, pipeline.expected.without_station)
    letters = [json.loads(m.value) for m in dead]
    assert len(letters) == pipeline.expected.without_station
    assert {letter["stage"] for letter in letters} == {"enricher"}
    assert all(letter["reason"].endswith("event without a station id") for letter in letters)


async def test_api_lists_every_station_with_its_bikes(pipeline: Pipeline) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{pipeline.web_url}/api/stations") as response:
        body = await response.json()
    stations = {s["station_id"]: s for s in body["stations"]}
    assert set(stations) == pipeline.expected.stations
    assert isinstance(body["batch_id"], int)
    for station_id, station in stations.items():
        assert station["bikes"] == pipeline.expected.bikes[station_id]


def test_websocket_pushed_a_batch_of_stations(pipeline: Pipeline) -> None:
    (update,) = pipeline.messages
    assert update["type"] == "stations"
    assert isinstance(update["batch_id"], int)
    assert update["stations"], "a batch that inserted events changes at least one station"
    assert {s["station_id"] for s in update["stations"]} <= pipeline.expected.stations


async def test_services_expose_health_and_metrics(pipeline: Pipeline) -> None:
    enricher = f"http://127.0.0.1:{pipeline.stack.ports.metrics('enricher')}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{enricher}/health") as response:
            assert response.status == 200
        async with http.get(f"{enricher}/metrics") as response:
            metrics = await response.text()
        async with http.get(f"{pipeline.web_url}/metrics") as response:
            assert "web_api_requests_total" in await response.text()
    values = {
        line.split()[0]: float(line.split()[1]) for line in metrics.splitlines() if line and not line.startswith("#")
    }
    assert values["enricher_events_cleaned_total"] == pipeline.expected.events
    assert values["enricher_events_dead_lettered_total"] == pipeline.expected.without_station


@pytest.mark.browser
async def test_map_shows_a_blue_circle_per_station_with_bikes(pipeline: Pipeline) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            await page.goto(pipeline.web_url + "/")
            expected = len(pipeline.expected.with_bikes)
            await page.wait_for_function(f"document.body.dataset.docks === '{expected}'", timeout=30_000)
            circles = await page.locator("path.dock-with-bikes").count()
            assert circles == expected
            stroke = await page.locator("path.dock-with-bikes").first.get_attribute("stroke")
            assert stroke == "#1f5fbf"
            await page.screenshot(path=str(pipeline.stack.logs / "map.png"))
        finally:
            await browser.close()
