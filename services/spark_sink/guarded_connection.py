"""One of the sink writer's Postgres connections, with the watch every write attempt on it runs under.

asyncpg's COPY waits for the socket to accept more data with no timeout, and a connection lost while that
wait is pending never wakes it (the loss resolves the query's waiter, not the write-flow event), so a
Postgres killed in the middle of a large COPY left the batch hanging for ever with nothing logged. `run`
cancels the attempt as soon as the connection is closed, or when the attempt outlives `write_timeout_s` (a
half-open connection), and turns both into a transient `PostgresLost` that the retry loop handles like any
lost connection. `lost` says why the last attempt failed while it is being retried (the writer's health).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")

WATCH_S = 0.5
"""How often a running write checks that its connection is still open."""

SESSION_SETTINGS = {"work_mem": "64MB", "temp_buffers": "256MB", "jit": "off"}
"""The writer's session: a 235,000-event batch sorts and hashes in memory (at the default 4 MB its sorts
spilled to disk), its temporary tables stay in memory, and no plan is JIT-compiled (150-200 ms a batch
for queries that run once)."""


class PostgresLost(ConnectionError):
    """A write attempt abandoned because its connection closed under it or it outlived its deadline."""


class GuardedConnection:
    """A connection opened on first use and again after a loss; `run` one attempt at a time on it."""

    def __init__(self, dsn: str, write_timeout_s: float) -> None:
        self.dsn = dsn
        self.write_timeout_s = write_timeout_s
        self.conn: asyncpg.Connection | None = None
        self.lost: str | None = None
        """why the last attempt failed, while it is being retried; None when writing works"""

    async def connect(self) -> asyncpg.Connection:
        if self.conn is None or self.conn.is_closed():
            # command_timeout bounds each statement too (the watch bounds the whole attempt).
            self.conn = await asyncpg.connect(
                self.dsn, timeout=10, command_timeout=self.write_timeout_s, server_settings=SESSION_SETTINGS
            )
        return self.conn

    def drop(self) -> None:
        """Terminate the connection (after a failed attempt): the next attempt connects again."""
        if self.conn is not None:
            self.conn.terminate()
            self.conn = None

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close(timeout=5)

    async def run(self, batch_id: int, attempt: Coroutine[Any, Any, T]) -> T:
        """Run one write attempt on this connection; abandon it (transient `PostgresLost`) once the
        connection is closed or it has run `write_timeout_s`."""
        if self.conn is not None and self.conn.is_closed():
            self.conn = None  # lost while idle: the attempt reconnects, the watch must not take it for a loss
        loop = asyncio.get_running_loop()
        task = loop.create_task(attempt)
        give_up = loop.time() + self.write_timeout_s
        while True:
            done, _ = await asyncio.wait({task}, timeout=WATCH_S)
            if done:
                return task.result()
            conn = self.conn
            if conn is not None and conn.is_closed():
                why = "the connection to postgres closed during the write"
            elif loop.time() > give_up:
                why = f"the write did not finish within {self.write_timeout_s:g}s (BIKESHARE_SINK_WRITE_TIMEOUT_S)"
            else:
                continue
            self.lost = why
            task.cancel()
            # Cancelling unblocks asyncpg's COPY; whatever it raises on the way out is superseded by `why`.
            await asyncio.wait({task}, timeout=5)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it as never retrieved
            if conn is not None:
                conn.terminate()
            self.conn = None
            raise PostgresLost(f"batch {batch_id}: {why}")
