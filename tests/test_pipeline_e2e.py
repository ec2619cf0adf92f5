"""End to end on a stack of its own: a real trip file in S3 -> producer -> Kafka -> enricher (faust)
-> Kafka -> Spark sink -> Postgres -> web API, websocket and a real browser.

The pipeline itself is the session fixture `pipeline` (tests/e2e_pipeline.py, shared with the map's
browser tests). Expected values come from `tests/expected.py`, which reads the same CSV with the csv module."""

from __future__ import annotations

import json

import aiohttp
import asyncpg
import pytest

from shared import topics
from tests.browser import wait_for_js
from tests.conftest import read_topic
from tests.e2e_pipeline import Pipeline

pytestmark = pytest.mark.stack


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
            await wait_for_js(page, f"document.body.dataset.docks === '{expected}'")
            circles = await page.locator("path.dock-with-bikes").count()
            assert circles == expected
            stroke = await page.locator("path.dock-with-bikes").first.get_attribute("stroke")
            assert stroke == "#1f5fbf"
            await page.screenshot(path=str(pipeline.stack.logs / "map.png"))
        finally:
            await browser.close()
