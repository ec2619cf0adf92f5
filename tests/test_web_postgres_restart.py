"""The web service across a real Postgres stop and start (a Postgres of the test's own): /health turns
503 while the LISTEN connection is lost and 200 after; the web reconnects by itself (also through
refused logins), reloads every station (so a batch whose NOTIFY it missed is not lost), tells its
websocket clients to `resync`, and pushes the next batches again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import asyncpg
import pytest

from bench.web_fixture import OwnPostgres, commit_batch, fill_contract_tables, start_postgres, web_process
from devstack import provision
from tests.conftest import eventually

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
async def own_postgres() -> AsyncIterator[OwnPostgres]:
    postgres = await start_postgres("web-restart")
    try:
        await fill_contract_tables(postgres.dsn)
        yield postgres
    finally:
        postgres.remove()


async def health_is(http: aiohttp.ClientSession, url: str, wanted: int) -> bool:
    try:
        async with http.get(f"{url}/health") as response:
            return response.status == wanted
    except aiohttp.ClientError:
        return False


async def admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_web_reconnects_resyncs_and_reports_health_across_a_postgres_restart(own_postgres: OwnPostgres) -> None:
    pg = own_postgres
    web, url = web_process(pg.web_dsn, pg.state / "logs", listen_probe_s="0.5", reconnect_max_wait_s="1")
    web.start()
    try:
        async with aiohttp.ClientSession() as http:
            await eventually("web healthy", lambda: health_is(http, url, 200), deadline_s=30)
            async with http.ws_connect(f"{url}/ws") as ws:
                hello = await ws.receive_json(timeout=10)
                assert hello == {"type": "hello", "as_of": "2024-09-10T12:37:05+00:00", "batch_id": 1}

                await asyncio.to_thread(pg.postgres.stop)
                await eventually("/health 503 while postgres is down", lambda: health_is(http, url, 503), 15)
                async with http.get(f"{url}/health") as response:
                    assert (await response.json())["postgres"] == "lost: reconnecting"
                async with http.get(f"{url}/api/stations") as response:  # still served from memory
                    assert response.status == 200

                await asyncio.to_thread(pg.postgres.start)
                await asyncio.to_thread(pg.postgres.wait_ready)
                # Hold the web out until a batch has been committed whose NOTIFY it cannot hear.
                await admin(pg.admin_dsn, f"ALTER ROLE {provision.WEB_ROLE} NOLOGIN")
                await admin(pg.admin_dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            f"WHERE usename = '{provision.WEB_ROLE}'")  # fmt: skip
                await eventually("/health 503 while the web cannot log in", lambda: health_is(http, url, 503), 15)
                missed = datetime(2024, 9, 12, 9, 0, tzinfo=UTC)
                await commit_batch(pg.dsn, 41, {"HB101": 4}, missed)
                await admin(pg.admin_dsn, f"ALTER ROLE {provision.WEB_ROLE} LOGIN")

                await eventually("/health 200 after postgres is back", lambda: health_is(http, url, 200), 30)
                assert await ws.receive_json(timeout=10) == {"type": "resync"}
                async with http.get(f"{url}/api/stations") as response:
                    body = await response.json()
                assert body["batch_id"] == 41
                assert body["as_of"] == missed.isoformat()
                (hb101,) = [s for s in body["stations"] if s["station_id"] == "HB101"]
                assert hb101["bikes"] == 4

                later = datetime(2024, 9, 12, 9, 5, tzinfo=UTC)
                await commit_batch(pg.dsn, 42, {"HB101": 5}, later)
                update = await ws.receive_json(timeout=10)
                while update == {"type": "resync"}:  # one more if it got in before the role was shut out
                    update = await ws.receive_json(timeout=10)
                assert update["type"] == "stations"
                assert update["batch_id"] == 42
                assert [(s["station_id"], s["bikes"]) for s in update["stations"]] == [("HB101", 5)]
            async with http.get(f"{url}/health") as response:
                assert (await response.json())["reconnects"] >= 1
    finally:
        web.stop()
    assert web.proc is not None
    assert web.proc.returncode in (0, -15), web.tail()
