"""Websocket fan-out: one bounded queue per connected client, removed when the client goes away.

A client too slow to keep up is not dropped and never blocks the others: its backlog is replaced by a
single `resync` message, on which the page reloads every station from the API.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

logger = logging.getLogger(__name__)

RESYNC = json.dumps({"type": "resync"})


class Broadcaster:
    def __init__(self, queue_size: int = 100) -> None:
        self._clients: set[asyncio.Queue[str]] = set()
        self._queue_size = queue_size

    @property
    def clients(self) -> int:
        return len(self._clients)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(self._queue_size)
        self._clients.add(queue)
        try:
            yield queue
        finally:
            self._clients.discard(queue)

    def publish(self, message: str) -> None:
        for queue in list(self._clients):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                logger.warning("a websocket client fell %d messages behind; asking it to resync", queue.qsize())
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC)
