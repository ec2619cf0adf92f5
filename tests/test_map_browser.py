"""The rider's map in Debian's Chromium, at desktop and phone sizes, against the app serving what the
real pipeline wrote (the session's `pipeline` fixture), under a strict Content-Security-Policy.

Expected values: the database for "what the map must show now", the trip file (csv module) for times."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser

from tests.browser import DESKTOP, PHONE, Watched, chromium, open_page, screenshot, wait_for_js
from tests.e2e_pipeline import HOSTILE_NAME, HOSTILE_NAME_2, Pipeline
from tests.expected_model import NEW_YORK

pytestmark = [pytest.mark.stack, pytest.mark.browser]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as started:
        yield started


async def db_rows(pipeline: Pipeline, sql: str) -> list[Any]:
    conn = await asyncpg.connect(pipeline.stack.postgres_dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def live_page(browser: Browser, pipeline: Pipeline, viewport: dict[str, int]) -> Watched:
    watched = await open_page(browser, pipeline.web_url, viewport)
    with_bikes = await db_rows(pipeline, "SELECT count(*) AS n FROM availability WHERE bikes > 0")
    await wait_for_js(watched.page, f"document.body.dataset.docks === '{with_bikes[0]['n']}'")
    return watched


def new_york(moment: datetime) -> str:
    """As the page writes it (Intl en-US, 24 h): "Sep 20, 2024, 07:49:16 New York"."""
    local = moment.astimezone(NEW_YORK)
    return f"{local:%b} {local.day}, {local.year}, {local:%H:%M:%S} New York"


def ago(moment: datetime, clock: datetime) -> str:
    seconds = round((clock - moment).total_seconds())
    minutes, hours = seconds // 60, seconds // 3600
    if seconds < 60:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if hours < 48:
        return f"{hours} h {minutes % 60} min ago" if minutes % 60 else f"{hours} h ago"
    return f"{hours // 24} days ago"


async def open_station_by_tap(page: Any, lat: float, lon: float, station_id: str) -> None:
    """Centre the map on the station at a street zoom, then tap the centre like a rider would."""
    await page.evaluate(f"bikeshareMap.map.setView([{lat}, {lon}], 16, {{animate: false}})")
    box = await page.locator("#map").bounding_box()
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.wait_for_selector(f'.station-popup[data-station-id="{station_id}"]')


async def test_a_blue_circle_per_station_with_bikes_and_the_data_clock(browser: Browser, pipeline: Pipeline) -> None:
    watched = await live_page(browser, pipeline, DESKTOP)
    page = watched.page
    expected = {r["station_id"] for r in await db_rows(pipeline, "SELECT station_id FROM availability WHERE bikes > 0")}
    ids = await page.eval_on_selector_all("path.dock-with-bikes", "els => els.map(e => e.dataset.stationId)")
    assert len(ids) == len(expected)
    assert set(ids) == expected
    # Every station the API lists is drawn (with or without bikes).
    listed = await page.evaluate("fetch('/api/stations').then(r => r.json()).then(b => b.stations.length)")
    assert await page.locator("path[data-station-id]").count() == listed
    assert await page.locator("path.dock-with-bikes").first.get_attribute("stroke") == "#1f5fbf"
    assert await page.locator("#status").text_content() == "live"
    assert await page.locator("#count").text_content() == f"{len(expected):,} docks with bikes"
    latest = max(r["t"] for r in await db_rows(pipeline, "SELECT max(event_time) AS t FROM records"))
    assert await page.locator("#clock").get_attribute("data-clock") == latest.astimezone(UTC).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
    assert await page.locator("#clock").text_content() == f"Data time: {new_york(latest)}"
    # No tile server in the tests: the page says so and draws on a plain background.
    assert await page.locator("#tiles-notice").is_visible()
    assert "tiles unavailable" in (await page.locator("#tiles-notice").text_content() or "")
    await page.screenshot(path=screenshot("map-desktop.png"))
    watched.assert_clean()
    await page.close()


async def test_a_tapped_station_shows_its_row(browser: Browser, pipeline: Pipeline) -> None:
    watched = await live_page(browser, pipeline, DESKTOP)
    page = watched.page
    (row,) = await db_rows(
        pipeline,
        "SELECT a.*, l.street, l.lat, l.lon FROM availability a JOIN location l USING (station_id) "
        "ORDER BY a.bikes DESC, a.station_id LIMIT 1",
    )
    clock = (await db_rows(pipeline, "SELECT max(event_time) AS t FROM records"))[0]["t"]
    await open_station_by_tap(page, row["lat"], row["lon"], row["station_id"])
    popup = page.locator(".station-popup")
    assert await popup.get_attribute("data-station-id") == row["station_id"]
    assert await popup.locator("h2").text_content() == row["street"]

    async def field(name: str) -> str | None:
        return await popup.locator(f'dd[data-field="{name}"]').text_content()

    assert await field("bikes") == str(row["bikes"])
    assert await field("ebikes") == str(row["ebikes"])
    assert await field("docks") == ("unknown" if row["docks"] is None else str(row["docks"]))
    assert await field("capacity") == ("unknown" if row["capacity"] is None else str(row["capacity"]))
    changed = row["last_event_time"]
    assert await field("last_change") == f"{new_york(changed)} ({ago(changed, clock)})"
    await page.click("button.station-history")
    history = await db_rows(
        pipeline, f"SELECT count(*) AS n FROM availability_history WHERE station_id = '{row['station_id']}'"
    )
    if history[0]["n"]:
        await page.wait_for_selector(".station-chart canvas")
        assert int(await page.locator(".station-chart").get_attribute("data-points") or 0) > 0
    else:  # the sink does not write availability_history yet (issue 5): the popup says so
        await page.wait_for_selector(".station-chart .chart-status:text('no changes in the last 24 h of data')")
    await page.screenshot(path=screenshot("map-popup.png"))
    watched.assert_clean()
    await page.close()


async def test_hostile_station_names_show_as_text(browser: Browser, pipeline: Pipeline) -> None:
    watched = await live_page(browser, pipeline, DESKTOP)
    page = watched.page
    assert watched.csp, "the page was served under a Content-Security-Policy"
    for station_id, name in (("XSS.01", HOSTILE_NAME), ("XSS.02", HOSTILE_NAME_2)):
        (row,) = await db_rows(pipeline, f"SELECT street, lat, lon FROM location WHERE station_id = '{station_id}'")
        assert row["street"] == name  # the pipeline kept the name as written
        await open_station_by_tap(page, row["lat"], row["lon"], station_id)
        assert await page.locator(".station-popup h2").text_content() == name
        assert await page.locator(".station-popup img, .station-popup script, .station-popup b").count() == 0
        assert await page.locator('img[src="x"]').count() == 0
    watched.assert_clean()  # no alert dialog, no error, no CSP violation
    await page.close()


async def test_phone_layout(browser: Browser, pipeline: Pipeline) -> None:
    watched = await live_page(browser, pipeline, PHONE)
    page = watched.page
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no horizontal scroll
    for control in ("#legend summary", "#history-toggle", ".leaflet-control-zoom-in"):
        box = await page.locator(control).bounding_box()
        assert box is not None, f"{control} is not shown"
        assert box["y"] + box["height"] <= PHONE["height"], f"{control} is off screen"
        assert min(box["width"], box["height"]) >= 44, f"{control} is too small to tap: {box}"
    await page.screenshot(path=screenshot("map-phone.png"))
    # Taps at the starting zoom: the station nearest the finger, within 22 px, opens.
    target = await page.evaluate(
        """() => {
          const m = bikeshareMap.map, r = m.getContainer().getBoundingClientRect();
          const s = bikeshareMap.stations().find(s => {
            const p = m.latLngToContainerPoint([s.lat, s.lon]);
            return s.bikes > 0 && p.x > 60 && p.x < r.width - 60 && p.y > 80 && p.y < r.height - 160;
          });
          const p = m.latLngToContainerPoint([s.lat, s.lon]);
          return {x: r.left + p.x + 6, y: r.top + p.y + 6};
        }"""
    )
    await page.mouse.click(target["x"], target["y"])
    popup = page.locator(".leaflet-popup")
    await popup.wait_for()
    box = await popup.bounding_box()
    assert box is not None
    assert box["width"] <= PHONE["width"]
    await page.click(".leaflet-popup-close-button")
    await page.click("#history-toggle")
    slider = await page.locator("#time-slider").bounding_box()
    assert slider is not None
    assert slider["y"] + slider["height"] <= PHONE["height"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=screenshot("map-phone-history.png"))
    watched.assert_clean()
    await page.close()


async def test_controls_are_reachable_by_keyboard(browser: Browser, pipeline: Pipeline) -> None:
    watched = await live_page(browser, pipeline, DESKTOP)
    page = watched.page
    reached = set()
    for _ in range(25):
        await page.keyboard.press("Tab")
        reached.add(await page.evaluate("document.activeElement.id || document.activeElement.className"))
    for control in ("show-empty", "history-toggle", "time-slider", "time-input", "chart-whole"):
        assert control in reached, f"{control} not reached with Tab: {reached}"
    await page.focus("#map")
    await page.keyboard.press("Enter")  # the station nearest the centre
    await page.wait_for_selector(".station-popup")
    watched.assert_clean()
    await page.close()
