"""How the page follows the live feed, in Chromium against the app serving what the real pipeline wrote:
"waiting for the first batch" before any data, changed stations updated in place and highlighted,
and a reconnect with resynchronisation (no reload) after the web service restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, Route, WebSocketRoute

from tests.browser import DESKTOP, chromium, open_page, wait_for_js
from tests.conftest import eventually
from tests.e2e_pipeline import Pipeline

pytestmark = [pytest.mark.stack, pytest.mark.browser]
STATE = "document.getElementById('status').dataset.state"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as started:
        yield started


async def api_stations(pipeline: Pipeline) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{pipeline.web_url}/api/stations") as response:
        body = await response.json()
    return list(body["stations"])


async def test_before_the_first_batch_the_page_says_it_is_waiting(browser: Browser, pipeline: Pipeline) -> None:
    page = await browser.new_page(viewport=DESKTOP)  # type: ignore[arg-type]

    async def nothing_yet(route: Route) -> None:
        await route.fulfill(json={"stations": [], "as_of": None, "batch_id": None})

    await page.route("**/api/stations", nothing_yet)
    await page.goto(pipeline.web_url + "/")
    await wait_for_js(page, f"{STATE} === 'waiting'")
    assert await page.locator("#status").text_content() == "connected: waiting for the first batch"
    assert await page.locator("path[data-station-id]").count() == 0
    await page.close()


async def test_a_pushed_batch_changes_markers_in_place_and_highlights_them(
    browser: Browser, pipeline: Pipeline
) -> None:
    sockets: list[WebSocketRoute] = []

    async def through(route: WebSocketRoute) -> None:
        route.connect_to_server()  # everything passes through; the test can add messages
        sockets.append(route)

    async def intercept(page: Page) -> None:
        await page.route_web_socket("**/ws", through)

    listed = await api_stations(pipeline)
    watched = await open_page(browser, pipeline.web_url, DESKTOP, before_goto=intercept)
    page = watched.page
    with_bikes = sum(1 for s in listed if s["bikes"] > 0)
    await wait_for_js(page, f"document.body.dataset.docks === '{with_bikes}'")
    station = next(s for s in listed if s["bikes"] > 0)
    selector = f'path[data-station-id="{station["station_id"]}"]'
    await page.eval_on_selector(selector, "el => { el.dataset.original = 'yes'; }")
    emptied = {**station, "bikes": 0, "ebikes": 0}
    sockets[0].send(json.dumps({"type": "stations", "batch_id": 10**9, "as_of": None, "stations": [emptied]}))
    await wait_for_js(page, f"document.body.dataset.docks === '{with_bikes - 1}'")
    classes = await page.get_attribute(selector, "class") or ""
    assert "dock-empty" in classes.split()
    assert "dock-changed" in classes.split()
    assert await page.get_attribute(selector, "data-original") == "yes"  # the same element, changed in place
    assert await page.evaluate("document.body.dataset.lastBatch") == str(10**9)
    watched.assert_clean()
    await page.close()


async def test_the_page_reconnects_and_resyncs_after_the_server_restarts(browser: Browser, pipeline: Pipeline) -> None:
    watched = await open_page(browser, pipeline.web_url, DESKTOP)
    page = watched.page
    await wait_for_js(page, f"{STATE} === 'live'")
    await page.evaluate("window.sameDocument = true")
    web = pipeline.services["web"]
    await asyncio.to_thread(web.stop)
    await wait_for_js(page, f"{STATE} === 'reconnecting'")
    assert "retrying in" in (await page.locator("#status").text_content() or "")
    web.start()

    async def healthy() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{pipeline.web_url}/health") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await eventually("web /health after the restart", healthy, deadline_s=60)
    await wait_for_js(page, f"{STATE} === 'live'", deadline_s=60)  # backoff is at most 30 s
    assert await page.evaluate("window.sameDocument") is True  # resynchronised without a reload
    listed = await api_stations(pipeline)
    await wait_for_js(page, f"document.body.dataset.docks === '{sum(1 for s in listed if s['bikes'] > 0)}'")
    watched.errors = [e for e in watched.errors if "WebSocket" not in e]  # the refused reconnects
    watched.assert_clean()
    await page.close()
