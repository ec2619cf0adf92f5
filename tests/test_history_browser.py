"""The history view in Chromium against the app serving what the real pipeline wrote: the time control
shows the stations that had bikes at the chosen moment (expected from the trip file alone), and the
trips chart's total is the file's trip count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from playwright.async_api import Browser

from tests.browser import DESKTOP, chromium, open_page, screenshot, wait_for_js
from tests.e2e_pipeline import Pipeline
from tests.expected_model import NEW_YORK
from tests.history_expected import stations_with_bikes_at, trips_started

pytestmark = [pytest.mark.stack, pytest.mark.browser]
# A weekday morning in the middle of the sample's month, as typed into the page (New York time).
MOMENT_INPUT = "2024-09-17T08:30"
MOMENT = datetime(2024, 9, 17, 8, 30, tzinfo=NEW_YORK).astimezone(UTC)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as started:
        yield started


async def db_value(pipeline: Pipeline, sql: str) -> object:
    conn = await asyncpg.connect(pipeline.stack.postgres_dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_the_time_control_shows_the_stations_that_had_bikes_then(browser: Browser, pipeline: Pipeline) -> None:
    watched = await open_page(browser, pipeline.web_url, DESKTOP)
    page = watched.page
    await page.wait_for_selector("#time-input:not([disabled])")
    await page.fill("#time-input", MOMENT_INPUT)
    await page.dispatch_event("#time-input", "change")
    iso = MOMENT.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    await wait_for_js(page, f"document.body.dataset.historyAt === '{iso}'")
    await page.screenshot(path=screenshot("map-history.png"))
    shown = await page.eval_on_selector_all("path.dock-with-bikes", "els => els.map(e => e.dataset.stationId)")
    expected = stations_with_bikes_at(pipeline.trip_file, MOMENT)
    assert len(shown) == len(set(shown))
    assert set(shown) == expected
    assert await page.locator("#clock").text_content() == "Showing: Sep 17, 2024, 08:30:00 New York"
    assert await page.locator("#trips-chart").get_attribute("data-marked") == iso
    # "Live" returns to the pushed state.
    await page.click("#live-button")
    live = await db_value(pipeline, "SELECT count(*) FROM availability WHERE bikes > 0")
    await wait_for_js(page, f"document.body.dataset.docks === '{live}'")
    assert await page.evaluate("document.body.dataset.mode") == "live"
    watched.assert_clean()
    await page.close()


async def test_the_slider_moves_the_map_too(browser: Browser, pipeline: Pipeline) -> None:
    watched = await open_page(browser, pipeline.web_url, DESKTOP)
    page = watched.page
    await page.wait_for_selector("#time-slider:not([disabled])")
    minute = int(MOMENT.timestamp() // 60)
    await page.eval_on_selector(
        "#time-slider", f"s => {{ s.value = '{minute}'; s.dispatchEvent(new Event('input')); }}"
    )
    iso = MOMENT.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    await wait_for_js(page, f"document.body.dataset.historyAt === '{iso}'")
    assert await page.input_value("#time-input") == MOMENT_INPUT
    watched.assert_clean()
    await page.close()


async def test_the_trips_chart_totals_the_trips_in_the_file(browser: Browser, pipeline: Pipeline) -> None:
    watched = await open_page(browser, pipeline.web_url, DESKTOP)
    page = watched.page
    await page.wait_for_selector("#trips-chart canvas")
    total = int(await page.locator("#trips-chart").get_attribute("data-total") or -1)
    assert total == await db_value(pipeline, "SELECT sum(amount) FROM frequency")
    info = await page.locator("#chart-info").text_content()
    assert info is not None
    assert info.startswith(f"{total:,} trips, per ")
    watched.assert_clean()
    await page.close()
    trips = trips_started(pipeline.trip_file)
    if total == pipeline.expected.events and total != trips:
        pytest.skip("the sink still counts start and end events in Frequency (issue 5 makes it one per trip)")
    assert total == trips
