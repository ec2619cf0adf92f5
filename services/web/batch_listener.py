"""LISTENs for the sink's `availability_changed` notifications and pushes each batch's stations."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import asyncpg

from services.web.broadcaster import Broadcaster
from services.web.stations import stations_of_batch
from shared.schema import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)


class BatchListener:
    def __init__(self, dsn: str, pool: Any, broadcaster: Broadcaster) -> None:
        self._dsn = dsn
        self._pool = pool
        self._broadcaster = broadcaster
        self._conn: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches_pushed = 0

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self._dsn)
        await self._conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        logger.info("listening on %s", NOTIFY_CHANNEL)

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        for task in list(self._tasks):
            task.cancel()

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        task = asyncio.get_running_loop().create_task(self._push(int(payload)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push(self, batch_id: int) -> None:
        stations = await stations_of_batch(self._pool, batch_id)
        self._broadcaster.publish(json.dumps({"type": "stations", "batch_id": batch_id, "stations": stations}))
        self.batches_pushed += 1
        logger.info(
            "pushed %d stations to %d clients", len(stations), self._broadcaster.clients, extra={"batch_id": batch_id}
        )
