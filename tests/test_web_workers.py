"""`BIKESHARE_WEB_WORKERS=2`: two serving processes on one port, each a full replica (its own LISTEN
and state), both following a batch, and all of them stopping on one SIGTERM."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bench.web_fixture import commit_batch, fill_contract_tables, start_postgres, web_process
from tests.conftest import eventually

pytestmark = pytest.mark.stack


def group_members(group: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


async def test_two_workers_serve_one_port_and_both_follow_the_pushes() -> None:
    postgres = await start_postgres("web-workers")
    try:
        await fill_contract_tables(postgres.dsn)
        web, url = web_process(postgres.web_dsn, postgres.state / "logs", web_workers="2", rate_limit_per_s="0")
        web.start()
        assert web.proc is not None
        group = web.proc.pid
        try:
            async with aiohttp.ClientSession() as http:

                async def batch_ids() -> set[int]:
                    found = set()
                    for _ in range(20):  # new connections: the kernel spreads them over both workers
                        async with aiohttp.ClientSession() as fresh, fresh.get(f"{url}/health") as response:
                            if response.status == 200:
                                found.add((await response.json())["batch_id"])
                    return found

                await eventually("both workers healthy", lambda: _healthy(http, url), deadline_s=60)
                assert len(group_members(group)) >= 2  # the parent and its second worker
                await commit_batch(postgres.dsn, 2, {"HB101": 1}, datetime(2024, 9, 11, tzinfo=UTC))

                async def all_at_batch_2() -> bool:
                    return await batch_ids() == {2}

                await eventually("every worker at batch 2", all_at_batch_2, deadline_s=20)
        finally:
            web.stop()
        assert web.proc.returncode in (0, -15), web.tail()
        await eventually("no worker left", lambda: _none_left(group), deadline_s=15)
    finally:
        postgres.remove()


async def _healthy(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(f"{url}/health") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _none_left(group: int) -> bool:
    return not group_members(group)
