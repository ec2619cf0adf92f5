"""The web service as a hostile client meets it: security headers (a CSP without inline script), per-IP
request and websocket limits, bounded API parameters, a 100 kB station name, and a database role that
cannot write. A real web process over a Postgres of the test's own."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import asyncpg
import pytest

from bench.web_fixture import OwnPostgres, commit_batch, fill_contract_tables, start_postgres, web_process
from devstack import paths, provision
from devstack.process import ManagedProcess
from tests.conftest import eventually

pytestmark = pytest.mark.stack

INDEX = paths.ROOT / "services" / "web" / "static" / "index.html"
BURST = 30


@dataclass
class Web:
    postgres: OwnPostgres
    process: ManagedProcess
    url: str


@pytest.fixture(scope="module")
async def web() -> AsyncIterator[Web]:
    postgres = await start_postgres("web-security")
    try:
        await fill_contract_tables(postgres.dsn)
        process, url = web_process(
            postgres.web_dsn,
            postgres.state / "logs",
            rate_limit_per_s="2",
            rate_limit_burst=str(BURST),
            ws_max_per_ip="2",
        )
        process.start()
        try:

            async def healthy() -> bool:
                try:
                    async with aiohttp.ClientSession() as http, http.get(f"{url}/health") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually("web /health", healthy, deadline_s=30)
            yield Web(postgres, process, url)
        finally:
            process.stop()
    finally:
        postgres.remove()


def index_html() -> str:
    return INDEX.read_text()


async def test_every_response_carries_a_csp_without_inline_script(web: Web) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/health", "/gbfs/2.3/gbfs.json", "/static/nothing-here.js"):
            async with http.get(web.url + path) as response:
                csp = response.headers["Content-Security-Policy"]
                directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
                assert directives["script-src"] == "'self'"
                assert directives["default-src"] == "'self'"
                assert directives["object-src"] == "'none'"
                assert "unsafe-inline" not in csp
                assert "unsafe-eval" not in csp
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_has_no_inline_script_for_the_csp_to_block() -> None:
    html = index_html()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I)
    assert scripts, "the page loads its scripts"
    assert all("src=" in attributes and not body.strip() for attributes, body in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I), "inline event handlers are inline script"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("at=2012-12-31T23:00:00Z", "must lie between 2013-01-01"),
        ("at=2999-01-01T00:00:00Z", "must lie between 2013-01-01"),
        ("at=2024-09-10T10:00:00", "needs a zone offset"),
        ("at=yesterday", "must be an ISO 8601 time"),
        ("at=" + "9" * 5000, "longer than 64 characters"),
        ("limit=10", "unknown parameter 'limit'"),
    ],
)
async def test_api_parameters_out_of_bounds_are_400_with_the_reason(web: Web, query: str, message: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{web.url}/api/stations?{query}") as response:
        assert response.status == 400
        assert message in (await response.json())["error"]


async def test_a_time_with_an_offset_is_accepted(web: Web) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{web.url}/api/stations"
        async with http.get(url, params={"at": "2024-09-10T10:00:00+09:00"}) as response:
            assert response.status != 400  # 200 with the history module, 501 naming it without


async def test_a_100_kb_station_name_is_not_sent_in_full(web: Web) -> None:
    name = "<b>" + "N" * 100_000
    conn = await asyncpg.connect(web.postgres.dsn)
    try:
        await conn.execute(
            "INSERT INTO location (station_id, street, lat, lon) VALUES ('LONG1', $1, 40.7, -74.0)", name
        )
        await conn.execute(
            "INSERT INTO availability (station_id, bikes, last_event_time, batch_id) VALUES ('LONG1', 1, $1, 501)",
            datetime(2024, 9, 11, tzinfo=UTC),
        )
    finally:
        await conn.close()
    await commit_batch(web.postgres.dsn, 501, {}, datetime(2024, 9, 11, tzinfo=UTC))

    async def long_station() -> dict[str, object] | None:
        async with aiohttp.ClientSession() as http, http.get(f"{web.url}/health") as response:
            if (await response.json())["batch_id"] != 501:
                return None
        async with aiohttp.ClientSession() as http, http.get(f"{web.url}/api/stations") as response:
            body = await response.json()
        return next((s for s in body["stations"] if s["station_id"] == "LONG1"), None)

    station = await eventually("the long-named station in the API", long_station, deadline_s=10)
    assert station["name"] == name[:199] + "…"


async def test_websockets_are_limited_per_client_address(web: Web) -> None:
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(f"{web.url}/ws")
        second = await http.ws_connect(f"{web.url}/ws")
        assert (await first.receive_json(timeout=5))["type"] == "hello"
        assert (await second.receive_json(timeout=5))["type"] == "hello"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{web.url}/ws")
        assert refused.value.status == 429
        await second.close()

        async def admitted_again() -> bool:
            try:
                third = await http.ws_connect(f"{web.url}/ws")
            except aiohttp.WSServerHandshakeError:
                return False
            await third.close()
            return True

        await eventually("a websocket admitted once another closed", admitted_again, deadline_s=5)
        await first.close()


async def test_a_websocket_client_that_floods_the_server_is_closed(web: Web) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{web.url}/ws") as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        for i in range(25):
            try:
                await ws.send_str(f"flood {i}")
            except aiohttp.ClientConnectionResetError:
                break  # the server already closed it mid-flood (its close frame waits to be read below)
        message = await ws.receive(timeout=5)
        while message.type == aiohttp.WSMsgType.TEXT:
            message = await ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1008


async def test_requests_beyond_the_per_address_rate_are_429_and_health_is_not_limited(web: Web) -> None:
    statuses = []
    async with aiohttp.ClientSession() as http:
        for _ in range(BURST + 20):
            async with http.get(f"{web.url}/gbfs/2.3/system_information.json") as response:
                statuses.append(response.status)
                if response.status == 429:
                    assert int(response.headers["Retry-After"]) >= 1
                    assert "requests/s" in (await response.json())["error"]
        assert statuses.count(429) >= 15
        assert statuses[0] == 200
        for _ in range(5):
            async with http.get(f"{web.url}/health") as response:
                assert response.status == 200


async def test_the_webs_database_role_can_read_and_listen_but_not_write(web: Web) -> None:
    conn = await asyncpg.connect(web.postgres.web_dsn)
    try:
        assert await conn.fetchval("SELECT current_user") == provision.WEB_ROLE
        assert await conn.fetchval("SELECT count(*) FROM availability") > 2000
        await conn.add_listener("availability_changed", lambda *_: None)
        for sql in (
            "INSERT INTO location (station_id, street, lat, lon) VALUES ('X', 'x', 40.7, -74)",
            "UPDATE availability SET bikes = 0",
            "DELETE FROM sink_batches",
            "CREATE TABLE intruder (x int)",
        ):
            with pytest.raises((asyncpg.ReadOnlySQLTransactionError, asyncpg.InsufficientPrivilegeError)):
                await conn.execute(sql)
        # Even with read-only switched off for the session, the grants do not allow writing.
        await conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("INSERT INTO location (station_id, street, lat, lon) VALUES ('X', 'x', 40.7, -74)")
    finally:
        await conn.close()


async def test_the_sinks_role_writes_rows_but_not_schema(web: Web) -> None:
    sink_dsn = web.postgres.dsn.replace("postgres@", f"{provision.SINK_ROLE}@", 1)
    conn = await asyncpg.connect(sink_dsn)
    try:
        async with conn.transaction():
            await conn.execute("CREATE TEMP TABLE staging (x int) ON COMMIT DROP")  # the sink stages in temp tables
            await conn.execute("INSERT INTO location (station_id, street, lat, lon) VALUES ('S1', 's', 40.7, -74)")
            await conn.execute("DELETE FROM location WHERE station_id = 'S1'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE intruder (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DROP TABLE records")
    finally:
        await conn.close()
