"""The GBFS 2.3 and 3.0 feeds of a real web service over a real Postgres holding the full Citi Bike
station set: every file validates against the official JSON Schemas (../shared/reference), the files
agree with each other and with the tables, and they follow the pushes (last_updated, ETag).

Expected values come from the catalogue file (plain json) and from the tables (plain SQL)."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from jsonschema import Draft7Validator

from bench.web_fixture import CATALOGUE, OwnPostgres, commit_batch, fill_contract_tables, start_postgres, web_process
from devstack.process import ManagedProcess
from shared.gbfs import read_station_information
from tests.conftest import SHARED, eventually

pytestmark = pytest.mark.stack

SCHEMAS = SHARED / "reference" / "gbfs-schemas"
FILES = ("gbfs", "system_information", "station_information", "station_status", "vehicle_types")


@dataclass
class Feed:
    postgres: OwnPostgres
    web: ManagedProcess
    url: str


@pytest.fixture(scope="module")
async def feed() -> AsyncIterator[Feed]:
    postgres = await start_postgres("gbfs")
    try:
        await fill_contract_tables(postgres.dsn)
        web, url = web_process(postgres.web_dsn, postgres.state / "logs", rate_limit_per_s="0")
        web.start()
        try:
            await eventually("web /health", lambda: _status(f"{url}/health", 200), deadline_s=30)
            yield Feed(postgres, web, url)
        finally:
            web.stop()
    finally:
        postgres.remove()


async def _status(url: str, wanted: int) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status == wanted
    except aiohttp.ClientError:
        return False


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200, f"{url}: {response.status} {await response.text()}"
        assert response.content_type == "application/json"
        return await response.json()


def catalogue_stations() -> list[dict[str, Any]]:
    """The station set the tables were filled from, read here with plain json."""
    stations: list[dict[str, Any]] = json.loads(Path(CATALOGUE).read_text())["data"]["stations"]
    return stations


def schema(version: str, name: str) -> Draft7Validator:
    path = SCHEMAS / f"v{version}" / f"{name}.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests expect ../shared beside the repository")
    return Draft7Validator(json.loads(path.read_text()), format_checker=Draft7Validator.FORMAT_CHECKER)


def assert_valid(version: str, name: str, doc: Any) -> None:
    errors = sorted(schema(version, name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, f"{version}/{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


async def table(dsn: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def files(feed: Feed, version: str) -> dict[str, Any]:
    """Every file the discovery document lists, fetched by the URL it gives."""
    discovery = await get_json(f"{feed.url}/gbfs/{version}/gbfs.json")
    feeds = discovery["data"]["en"]["feeds"] if version == "2.3" else discovery["data"]["feeds"]
    found = {"gbfs": discovery}
    for entry in feeds:
        found[entry["name"]] = await get_json(entry["url"])
    return found


@pytest.mark.parametrize("version", ["2.3", "3.0"])
async def test_every_file_validates_against_the_official_schema(feed: Feed, version: str) -> None:
    found = await files(feed, version)
    assert set(found) == set(FILES), "the data has e-bikes, so vehicle_types is published"
    for name, doc in found.items():
        assert_valid(version, name, doc)
        assert doc["version"] == version


@pytest.mark.parametrize("version", ["2.3", "3.0"])
async def test_the_files_agree_with_each_other_and_with_the_tables(feed: Feed, version: str) -> None:
    found = await files(feed, version)
    catalogue = {s["short_name"]: s for s in catalogue_stations()}
    rows = {r["station_id"]: r for r in await table(feed.postgres.dsn, "SELECT * FROM availability")}
    clock = (await table(feed.postgres.dsn, "SELECT max(max_event_time) AS t FROM sink_batches"))[0]["t"]
    info = {s["station_id"]: s for s in found["station_information"]["data"]["stations"]}
    status = {s["station_id"]: s for s in found["station_status"]["data"]["stations"]}
    types = {t["vehicle_type_id"]: t for t in found["vehicle_types"]["data"]["vehicle_types"]}
    bikes_key = "num_bikes_available" if version == "2.3" else "num_vehicles_available"

    assert set(info) == set(status) == set(rows) == set(catalogue)
    for doc in found.values():  # one clock for every file: the event time of the last committed batch
        assert doc["last_updated"] == (int(clock.timestamp()) if version == "2.3" else clock.isoformat())
        assert doc["ttl"] == 5
    for station_id, station in info.items():
        source = catalogue[station_id]
        name = station["name"] if version == "2.3" else station["name"][0]["text"]
        assert (name, station["lat"], station["lon"]) == (source["name"], source["lat"], source["lon"])
        assert station["capacity"] == source["capacity"]
        assert station.get("region_id") == source.get("region_id")
    over = 0
    for station_id, station in status.items():
        capacity, row = catalogue[station_id]["capacity"], rows[station_id]
        over += row["bikes"] > capacity
        bikes = min(max(row["bikes"], 0), capacity)  # never more than the docks installed
        assert station[bikes_key] == bikes
        assert station["num_docks_available"] == capacity - bikes
        assert station[bikes_key] + station["num_docks_available"] <= capacity
        counts = {t["vehicle_type_id"]: t["count"] for t in station["vehicle_types_available"]}
        assert set(counts) <= set(types)
        assert sum(counts.values()) == station[bikes_key]
        assert counts["ebike"] == min(row["ebikes"], bikes)
        assert station["is_installed"] is station["is_renting"] is station["is_returning"] is True
        reported = row["last_event_time"]
        assert station["last_reported"] == (int(reported.timestamp()) if version == "2.3" else reported.isoformat())
    assert over > 0, "the fixture puts some stations over capacity, so the clamp is exercised"
    assert types["ebike"]["propulsion_type"] == "electric_assist"
    assert types["classic"]["propulsion_type"] == "human"


async def test_gbfs_3_discovery_links_no_manifest_and_has_no_extra_fields(feed: Feed) -> None:
    discovery = await get_json(f"{feed.url}/gbfs/3.0/gbfs.json")
    assert set(discovery) == {"last_updated", "ttl", "version", "data"}
    assert "manifest" not in {f["name"] for f in discovery["data"]["feeds"]}


async def test_the_reader_reads_back_what_the_feed_publishes(feed: Feed) -> None:
    expected = {(s["short_name"], s["name"], s["capacity"], s.get("region_id")) for s in catalogue_stations()}
    for version in ("2.3", "3.0"):
        stations = read_station_information(f"{feed.url}/gbfs/{version}/gbfs.json")
        assert {(s.canonical_id, s.name, s.capacity, s.region_id) for s in stations} == expected


async def test_files_follow_the_pushes_with_etag_and_gzip(feed: Feed) -> None:
    url = f"{feed.url}/gbfs/2.3/station_status.json"
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(url, headers={"Accept-Encoding": "gzip"}) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Cache-Control"] == "public, max-age=5"
            etag = response.headers["ETag"]
            before = json.loads(gzip.decompress(await response.read()))
        async with http.get(url, headers={"If-None-Match": etag}) as response:
            assert response.status == 304

        station = before["data"]["stations"][0]["station_id"]
        moment = datetime(2024, 9, 11, 8, 30, tzinfo=UTC)
        await commit_batch(feed.postgres.dsn, 7, {station: 1}, moment)

        async def changed() -> bool:
            async with http.get(url, headers={"If-None-Match": etag}) as response:
                return response.status == 200

        await eventually("station_status changes after a batch", changed, deadline_s=10)
    after = await get_json(url)
    assert after["last_updated"] == int(moment.timestamp())
    (updated,) = [s for s in after["data"]["stations"] if s["station_id"] == station]
    assert updated["num_bikes_available"] == 1
    assert updated["last_reported"] == int(moment.timestamp())


async def test_unknown_files_and_versions_are_404_with_a_message(feed: Feed) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/gbfs/2.3/free_bike_status.json", "/gbfs/9.9/gbfs.json", "/gbfs/3.0/manifest.json"):
            async with http.get(feed.url + path) as response:
                assert response.status == 404
                assert "gbfs.json" in (await response.json())["error"]


def test_the_validator_checks_formats_so_a_bad_time_would_fail() -> None:
    bad = {"last_updated": "yesterday", "ttl": 5, "version": "3.0", "data": {"feeds": []}}
    messages = [e.message for e in schema("3.0", "gbfs").iter_errors(bad)]
    assert any("date-time" in m for m in messages), messages
