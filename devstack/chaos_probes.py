"""What the chaos runner watches while it kills: the pipeline's progress (Kafka end offsets of the raw
and clean topics, rows in Records) and a websocket client that follows the map like a browser does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared import topics

logger = logging.getLogger(__name__)

TRIP_RECORDS = "SELECT count(*) FROM records WHERE kind IN ('start', 'end')"  # opening-stock rows aside


@dataclass
class Progress:
    """One sample; None where the source did not answer (it may be the one just killed)."""

    at: float
    raw: dict[int, int] | None
    clean: dict[int, int] | None
    records: int | None
    committed: dict[int, int] | None = None  # the enrichers' consumer group on the raw topic


class ProgressMonitor:
    """Samples progress twice a second in the background; `latest` is the newest sample."""

    def __init__(self, bootstrap: str, dsn: str, group: str) -> None:
        self.bootstrap, self.dsn, self.group = bootstrap, dsn, group
        self.latest = Progress(time.monotonic(), None, None, None)
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _offsets(self, topic: str) -> dict[int, int] | None:
        try:
            if self._consumer is None:
                self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
                await asyncio.wait_for(self._consumer.start(), 5)
            parts = [TopicPartition(topic, p) for p in range(3)]
            ends = await asyncio.wait_for(self._consumer.end_offsets(parts), 3)
            return {tp.partition: int(offset) for tp, offset in ends.items()}
        except Exception:  # a broker being down is expected here; the next sample tries again
            return None

    async def _committed(self) -> dict[int, int] | None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            offsets = await asyncio.wait_for(admin.list_consumer_group_offsets(self.group), 3)
            return {tp.partition: int(meta.offset) for tp, meta in offsets.items() if tp.topic == topics.RAW}
        except Exception:  # no group yet, or the coordinator's broker is the one just killed
            return None
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    async def records(self) -> int | None:
        try:
            conn = await asyncio.wait_for(asyncpg.connect(self.dsn, timeout=2), 3)
        except Exception:
            return None
        try:
            return int(await asyncio.wait_for(conn.fetchval(TRIP_RECORDS), 5))
        except Exception:
            return None
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _run(self) -> None:
        while True:
            raw, clean, records, committed = await asyncio.gather(
                self._offsets(topics.RAW), self._offsets(topics.CLEAN), self.records(), self._committed()
            )
            self.latest = Progress(time.monotonic(), raw, clean, records, committed)
            await asyncio.sleep(0.5)


def advanced(before: dict[int, int] | None, now: dict[int, int] | None) -> bool:
    """Every partition moved past where it was (a stuck partition means its consumer is not back)."""
    return before is not None and now is not None and all(now.get(p, 0) > off for p, off in before.items())


def consumed(before: dict[int, int] | None, now: dict[int, int] | None, ends: dict[int, int] | None) -> bool:
    """Every partition's committed offset moved past where it was, or reached the end of the partition
    (a partition whose consumer is gone and not yet replaced stays put)."""
    if before is None or now is None or ends is None:
        return False
    return all(now.get(p, 0) > off or now.get(p, 0) >= ends.get(p, 0) for p, off in before.items())


@dataclass
class WsFollower:
    """A websocket client of one web replica, kept connected throughout like the map page.

    It loads every station from the API after each (re)connect or `resync`, then applies pushed
    stations; `state` is station id -> bikes as this client believes it to be."""

    base_url: str
    state: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    reconnects: int = 0
    resyncs: int = 0
    _task: asyncio.Task[None] | None = None
    _api_batch: int | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _load(self, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{self.base_url}/api/stations", timeout=aiohttp.ClientTimeout(total=10)) as response:
            response.raise_for_status()
            body = await response.json()
        self.state = {s["station_id"]: int(s["bikes"]) for s in body["stations"]}
        self._api_batch = body.get("batch_id")

    def _apply(self, message: dict[str, Any]) -> None:
        batch = message.get("batch_id")
        if isinstance(batch, int) and isinstance(self._api_batch, int) and batch <= self._api_batch:
            return  # already in the state the API gave
        for station in message.get("stations", []):
            self.state[station["station_id"]] = int(station["bikes"])

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as http:
            first = True
            while True:
                try:
                    async with http.ws_connect(f"{self.base_url}/ws", heartbeat=5) as ws:
                        if not first:
                            self.reconnects += 1
                        first = False
                        await self._load(http)
                        async for msg in ws:
                            if msg.type != aiohttp.WSMsgType.TEXT:
                                break
                            data = msg.json()
                            self.messages += 1
                            if data.get("type") == "stations":
                                self._apply(data)
                            elif data.get("type") == "resync":
                                self.resyncs += 1
                                await self._load(http)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    logger.info("websocket client: %s; reconnecting", exc)
                await asyncio.sleep(0.5)
