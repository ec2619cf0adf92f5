"""The search box in Debian's Chromium: "1 Park Avenue" draws a red circle at its known position and
exactly the docks with bikes computed independently; a bad address flashes the expected message; a
pushed batch changes a listed number without a reload; user input is never rendered as HTML."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from devstack import paths
from devstack.stack import free_ports
from services.web.app import create_app
from services.web.settings import WebSettings
from tests.search_expected import (
    ONE_PARK_AVENUE,
    avenue_positions,
    grid_blocks,
    grid_frame,
    metres,
    push,
    seed,
    stations_near,
)

pytestmark = [pytest.mark.stack, pytest.mark.browser]
FLASH = "Enter a building number and a street name, such as 1 Park Avenue"


def bikes_of(station_id: str) -> int:
    return sum(station_id.encode()) % 5  # 0..4: a fifth of the docks without bikes


@pytest.fixture
async def web(fresh_database: str) -> AsyncIterator[tuple[str, str, list[dict[str, Any]]]]:
    positions = avenue_positions()
    stations = [
        s
        for s in stations_near(ONE_PARK_AVENUE, 1500)
        if abs(grid_blocks(ONE_PARK_AVENUE, (s["lat"], s["lon"]), positions) - 3) > 0.3  # clear of the edge
    ]
    await seed(fresh_database, stations, {s["short_name"]: bikes_of(s["short_name"]) for s in stations})
    port = free_ports().web
    app = create_app(WebSettings.model_validate({"postgres_dsn": fresh_database, "web_port": port}))
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    try:
        yield f"http://127.0.0.1:{port}", fresh_database, stations
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(server, 10)


async def test_search_box_end_to_end(web: tuple[str, str, list[dict[str, Any]]]) -> None:
    from playwright.async_api import async_playwright, expect

    url, dsn, stations = web
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            await page.goto(url + "/")
            await page.wait_for_selector("body[data-search-ready='true']", timeout=20_000)
            await page.evaluate("window.__sameDocument = true")

            # A badly formed address: the flash message, as text.
            await page.fill("#search-input", "hello there")
            await page.press("#search-input", "Enter")
            await page.wait_for_selector("#search-flash:not([hidden])", timeout=10_000)
            assert FLASH in (await page.text_content("#search-flash") or "")

            # Markup typed by the user is shown as text, never run.
            await page.fill("#search-input", '<img src=x onerror="window.__xss=1">')
            await page.press("#search-input", "Enter")
            await expect(page.locator("#search-flash")).to_contain_text("Enter a building number", timeout=10_000)
            assert await page.evaluate("window.__xss") is None
            assert await page.locator("#search-box img").count() == 0

            # 1 Park Avenue: the red circle at its known position, exactly the expected docks as blue dots.
            await page.fill("#search-input", "1 Park Avenue")
            await page.click("#search-go")
            await page.wait_for_selector("body[data-search='found']", timeout=10_000)
            at = await page.evaluate(
                "(() => { const p = window.bikeshareSearch.addressMarker.getLatLng(); return [p.lat, p.lng]; })()"
            )
            assert metres((at[0], at[1]), ONE_PARK_AVENUE) < 100
            assert await page.locator("path.search-address").count() == 1
            positions = avenue_positions()
            expected = {
                s["short_name"]
                for s in stations
                if bikes_of(s["short_name"]) > 0 and grid_blocks((at[0], at[1]), (s["lat"], s["lon"]), positions) <= 3
            }
            assert len(expected) >= 2, "the seeded stations should leave docks with bikes within 3 blocks"
            listed = await page.eval_on_selector_all("#search-results li", "els => els.map(e => e.dataset.stationId)")
            assert set(listed) == expected
            assert len(listed) == len(expected)
            assert await page.locator("path.search-dock").count() == len(expected)
            fill = await page.locator("path.search-dock").first.get_attribute("fill")
            assert fill == "#0b57d0"

            await page.screenshot(path=str(paths.LOCAL / "search-1-park-avenue.png"))  # for a look; not committed

            # A pushed batch changes a listed number, without a reload.
            station_id = listed[0]
            row = page.locator(f"#search-results li[data-station-id='{station_id}'] .search-bikes")
            before = await row.text_content()
            await push(dsn, station_id, 41, batch_id=2)
            await expect(row).to_have_text("41 bikes", timeout=15_000)  # no eval: the page's CSP forbids it
            assert before != "41 bikes"
            assert await page.evaluate("window.__sameDocument") is True

            # No dock with bikes within 3 blocks: say so and show the nearest three (by walk along the grid).
            await page.fill("#search-input", "E 57 St & Lexington Ave")
            await page.click("#search-go")
            await page.wait_for_selector("body[data-search='nearest']", timeout=10_000)
            assert "No docks with bikes within 3 blocks" in (await page.text_content("#search-summary") or "")
            far = await page.evaluate(
                "(() => { const p = window.bikeshareSearch.addressMarker.getLatLng(); return [p.lat, p.lng]; })()"
            )
            u0, v0 = grid_frame(far[0], far[1])
            walks = sorted(
                (
                    abs(grid_frame(s["lat"], s["lon"])[0] - u0) + abs(grid_frame(s["lat"], s["lon"])[1] - v0),
                    s["short_name"],
                )
                for s in stations
                if bikes_of(s["short_name"]) > 0
            )
            listed = await page.eval_on_selector_all("#search-results li", "els => els.map(e => e.dataset.stationId)")
            assert listed == [station_id for _, station_id in walks[:3]]
            assert await page.locator("path.search-dock").count() == 3

            # Clearing restores the map.
            await page.click("#search-clear")
            assert await page.locator("path.search-dock").count() == 0
            assert await page.locator("path.search-address").count() == 0
            assert await page.locator("#search-results li").count() == 0
        finally:
            await browser.close()
