"""`GET /api/search` on a real Postgres: the docks with bikes within N blocks, exactly as computed
independently (`tests/search_expected.py`), live after a pushed batch, and every error answer."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.web.app import create_app
from services.web.settings import WebSettings
from tests.conftest import eventually
from tests.search_expected import (
    ONE_PARK_AVENUE,
    avenue_positions,
    grid_blocks,
    metres,
    push,
    seed,
    stations_near,
)

pytestmark = pytest.mark.stack
MARGIN = 0.15  # stations this close to the edge are left out: two float computations may round differently


def bikes_of(station_id: str) -> int:
    return zlib.crc32(station_id.encode()) % 4  # 0..3, a quarter without bikes


def seeded_stations(point: tuple[float, float], radii: tuple[float, ...]) -> list[dict[str, Any]]:
    positions = avenue_positions()
    kept = []
    for s in stations_near(point, 3000):
        b = grid_blocks(point, (s["lat"], s["lon"]), positions)
        if all(abs(b - r) > MARGIN for r in radii):
            kept.append(s)
    return kept


@pytest.fixture
async def search_app(fresh_database: str) -> AsyncIterator[tuple[Any, str, list[dict[str, Any]]]]:
    # The geocoded point of "1 Park Avenue" is checked against its known position in the test; the
    # expected sets are computed around the point the API returns (so geocoding error does not leak in).
    stations = seeded_stations(ONE_PARK_AVENUE, (3.0, 5.0))
    await seed(fresh_database, stations, {s["short_name"]: bikes_of(s["short_name"]) for s in stations})
    settings = WebSettings.model_validate(
        {"postgres_dsn": fresh_database, "search_blocks": 5, "search_burst": 200, "search_rate_per_minute": 600}
    )
    app = create_app(settings)
    async with app.test_app() as test_app:
        yield test_app, fresh_database, stations


def expected_ids(point: tuple[float, float], stations: list[dict[str, Any]], blocks: float) -> set[str]:
    positions = avenue_positions()
    return {
        s["short_name"]
        for s in stations
        if bikes_of(s["short_name"]) > 0 and grid_blocks(point, (s["lat"], s["lon"]), positions) <= blocks
    }


async def test_lists_exactly_the_docks_with_bikes_within_the_blocks(search_app: Any) -> None:
    app, _, stations = search_app
    response = await app.test_client().get("/api/search", query_string={"q": "1 Park Avenue"})
    assert response.status_code == 200
    body = await response.get_json()
    point = (body["point"]["lat"], body["point"]["lon"])
    assert metres(point, ONE_PARK_AVENUE) < 100
    assert body["point"]["method"] == "avenue_key_number"
    assert body["radius"] == {**body["radius"], "blocks": 5, "on_grid": True}
    got = {s["station_id"] for s in body["stations"]}
    assert got == expected_ids(point, stations, 5)
    assert len(got) >= 8
    walks = [s["walking_m"] for s in body["stations"]]
    assert walks == sorted(walks)
    first = body["stations"][0]
    assert set(first) >= {"station_id", "name", "lat", "lon", "bikes", "ebikes", "docks", "capacity", "blocks"}
    assert body["nearest"] == []
    assert body["message"] is None


async def test_a_pushed_batch_changes_the_numbers(search_app: Any) -> None:
    app, dsn, _ = search_app
    client = app.test_client()
    body = await (await client.get("/api/search", query_string={"q": "1 Park Avenue"})).get_json()
    station = body["stations"][0]
    await push(dsn, station["station_id"], station["bikes"] + 9, batch_id=7)

    async def updated() -> bool:
        again = await (await client.get("/api/search", query_string={"q": "1 Park Avenue"})).get_json()
        return any(
            s["station_id"] == station["station_id"] and s["bikes"] == station["bikes"] + 9 for s in again["stations"]
        )

    await eventually("the search shows the pushed number", updated, deadline_s=20)


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        ("hello", 400, "format"),
        ("", 400, None),
        ("<script>alert(1)</script>", 400, "format"),
        ("1 Park Avenue " + "x" * 300, 400, None),
        ("285 Fulton Street", 404, "not_found"),
    ],
)
async def test_bad_queries_get_a_clear_error(search_app: Any, query: str, status: int, reason: str | None) -> None:
    app, _, _ = search_app
    response = await app.test_client().get("/api/search", query_string={"q": query})
    assert response.status_code == status
    body = await response.get_json()
    assert body["error"]
    assert body.get("reason") == reason
    if reason == "format":
        assert body["error"].startswith("Enter a building number and a street name, such as 1 Park Avenue")


async def test_no_docks_within_the_radius_lists_the_nearest_three(search_app: Any) -> None:
    app, _, stations = search_app
    # The seeded stations are those within 3 km of 1 Park Avenue: Lexington & 75th St is 600 m beyond them.
    response = await app.test_client().get("/api/search", query_string={"q": "W 95 St & Columbus Ave"})
    assert response.status_code == 404  # more than 1.5 km from any seeded dock: outside the service area
    assert (await response.get_json())["reason"] == "outside"
    response = await app.test_client().get("/api/search", query_string={"q": "E 75 St & Lexington Ave"})
    body = await response.get_json()
    assert response.status_code == 200, body
    assert body["stations"] == []
    assert len(body["nearest"]) == 3
    assert body["message"].startswith("No docks with bikes within 5 blocks")
    point = (body["point"]["lat"], body["point"]["lon"])
    with_bikes = sorted(metres(point, (s["lat"], s["lon"])) for s in stations if bikes_of(s["short_name"]) > 0)
    assert metres(point, (body["nearest"][0]["lat"], body["nearest"][0]["lon"])) == pytest.approx(with_bikes[0], abs=1)


async def test_rate_limit_per_client(fresh_database: str) -> None:
    settings = WebSettings.model_validate(
        {"postgres_dsn": fresh_database, "search_burst": 3, "search_rate_per_minute": 1}
    )
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        codes = [(await client.get("/api/search", query_string={"q": "hello"})).status_code for _ in range(5)]
        assert codes == [400, 400, 400, 429, 429]
        limited = await client.get("/api/search", query_string={"q": "1 Park Avenue"})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0


async def test_postgres_down_at_start_gives_503_not_a_crash() -> None:
    from devstack.process import free_port

    port = free_port()  # nothing listens there
    settings = WebSettings.model_validate(
        {"postgres_dsn": f"postgresql://postgres@127.0.0.1:{port}/none", "reconnect_max_wait_s": 1}
    )
    app = create_app(settings)
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/api/search", query_string={"q": "1 Park Avenue"})
        assert response.status_code == 503
        assert (await response.get_json())["reason"] == "unavailable"
        bad = await test_app.test_client().get("/api/search", query_string={"q": "hello"})
        assert bad.status_code == 400  # a badly formed address is still told at once
