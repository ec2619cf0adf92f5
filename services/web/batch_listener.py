"""Keeps the in-memory state current: LISTENs for the sink's `availability_changed` notifications,
reads the stations each batch changed once, applies them and pushes them (encoded once) to the
websocket clients.

The LISTEN connection is watched (termination callback plus a periodic probe). When it is lost the
service reports unhealthy, reconnects with exponential backoff (tenacity, no deadline: a web replica
waits for its database), then reloads every station and sends every client `resync`, because
notifications sent while it was away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from services.web.broadcaster import RESYNC, Broadcaster
from services.web.state import LiveState
from services.web.stations import all_stations, data_clock, stations_of_batches
from shared.schema import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class ConnectionLost(Exception):
    """The LISTEN connection ended (server restart, network, probe timeout)."""


class BatchListener:
    def __init__(
        self,
        dsn: str,
        state: LiveState,
        broadcaster: Broadcaster,
        name_max: int = 200,
        probe_s: float = 2.0,
        max_wait_s: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._state = state
        self._broadcaster = broadcaster
        self._name_max = name_max
        self._probe_s = probe_s
        self._max_wait_s = max_wait_s
        self._batches: asyncio.Queue[int] = asyncio.Queue()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.batches_pushed = 0
        self.reconnects = 0

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batch-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        first = True
        while True:
            conn = await self._connect()
            try:
                await self._synchronise(conn, announce=not first)
                first = False
                await self._follow(conn)
            except (ConnectionLost, *CONNECTION_ERRORS) as exc:
                logger.warning("lost the LISTEN connection to postgres (%s); reconnecting", exc or type(exc).__name__)
            except Exception:
                # A bug or unexpected data must not end the listener for good: report, pause, start over.
                logger.exception("the batch listener failed; reconnecting and reloading every station")
                await asyncio.sleep(1)
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 1)
            self.reconnects += 1

    async def _connect(self) -> Any:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(CONNECTION_ERRORS),
            wait=wait_exponential_jitter(multiplier=0.2, max=self._max_wait_s),  # tenacity 9.2: `initial` is deprecated
            before_sleep=lambda rs: logger.warning(
                "postgres unreachable for LISTEN (attempt %d: %s); retrying",
                rs.attempt_number,
                rs.outcome.exception() if rs.outcome else None,
            ),
        ):
            with attempt:
                conn = await asyncpg.connect(self._dsn, timeout=5)
        return conn

    async def _synchronise(self, conn: Any, announce: bool) -> None:
        """LISTEN first, then read everything: a batch committed in between is both read and notified."""
        self._lost.clear()
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        while not self._batches.empty():
            self._batches.get_nowait()
        rows = await all_stations(conn, self._name_max)
        self._state.replace_all(rows, await data_clock(conn))
        self.connected = True
        logger.info(
            "listening on %s; %d stations loaded", NOTIFY_CHANNEL, len(rows), extra={"batch_id": self._state.batch_id}
        )
        if announce:
            self._broadcaster.publish(RESYNC)

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        try:
            self._batches.put_nowait(int(payload))
        except ValueError:
            logger.warning("ignoring a %s notification with a payload that is not a batch id: %.80r", channel, payload)

    async def _follow(self, conn: Any) -> None:
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            while True:
                got = asyncio.ensure_future(self._batches.get())
                done, _ = await asyncio.wait({got, lost}, timeout=self._probe_s, return_when=asyncio.FIRST_COMPLETED)
                if lost in done:
                    got.cancel()
                    raise ConnectionLost("connection terminated")
                if got in done:
                    ids = [got.result()]
                    while not self._batches.empty():
                        ids.append(self._batches.get_nowait())  # batches that queued up are read together
                    await self._push(conn, ids)
                else:
                    got.cancel()
                    await conn.fetchval("SELECT 1", timeout=self._probe_s)
        finally:
            lost.cancel()

    async def _push(self, conn: Any, batch_ids: list[int]) -> None:
        rows = await stations_of_batches(conn, batch_ids, self._name_max)
        changed = self._state.apply(rows, await data_clock(conn))
        message = json.dumps(
            {"type": "stations", **self._state.clock_json(), "stations": changed},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        self._broadcaster.publish(message)
        self.batches_pushed += len(batch_ids)
        logger.info(
            "pushed %d stations to %d clients",
            len(changed),
            self._broadcaster.clients,
            extra={"batch_id": batch_ids[-1]},
        )
