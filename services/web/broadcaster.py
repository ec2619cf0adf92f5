"""Websocket fan-out: each update is encoded once (a str) and the same object is queued for every client.

Each client has a backlog bounded in messages and in bytes. A client too slow to keep up is not
dropped and never blocks the others: when its backlog would pass either bound, the backlog is replaced
by a single `resync` message, on which the page reloads every station from the API. So a stalled
client holds at most `max_bytes` (plus one message) of this process's memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

logger = logging.getLogger(__name__)

RESYNC = json.dumps({"type": "resync"})


class Subscription:
    """One client's backlog: `get()` waits for the next message."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self._items: deque[tuple[str, int]] = deque()
        self._bytes = 0
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._ready = asyncio.Event()
        self.resyncs = 0

    @property
    def backlog_bytes(self) -> int:
        return self._bytes

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def offer(self, message: str, size: int) -> bool:
        """Queue a message; False when the backlog overflowed and became one resync."""
        if len(self._items) >= self._max_messages or self._bytes + size > self._max_bytes:
            self._items.clear()
            self._items.append((RESYNC, len(RESYNC)))
            self._bytes = len(RESYNC)
            self.resyncs += 1
            self._ready.set()
            return False
        self._items.append((message, size))
        self._bytes += size
        self._ready.set()
        return True

    def get_nowait(self) -> str:
        if not self._items:
            raise asyncio.QueueEmpty
        message, size = self._items.popleft()
        self._bytes -= size
        if not self._items:
            self._ready.clear()
        return message

    async def get(self) -> str:
        while not self._items:
            await self._ready.wait()
        return self.get_nowait()


class Broadcaster:
    def __init__(self, queue_size: int = 100, max_bytes: int = 4_000_000) -> None:
        self._clients: set[Subscription] = set()
        self._queue_size = queue_size
        self._max_bytes = max_bytes
        self.resyncs = 0

    @property
    def clients(self) -> int:
        return len(self._clients)

    def largest_backlog_bytes(self) -> int:
        return max((s.backlog_bytes for s in self._clients), default=0)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription(self._queue_size, self._max_bytes)
        self._clients.add(subscription)
        try:
            yield subscription
        finally:
            self._clients.discard(subscription)

    def publish(self, message: str) -> None:
        size = len(message.encode())  # once per message, not per client
        behind = 0
        for subscription in self._clients:
            if not subscription.offer(message, size):
                behind += 1
        if behind:
            self.resyncs += behind
            logger.warning("%d websocket client(s) fell behind; their backlog became one resync", behind)
