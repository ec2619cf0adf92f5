"""What `bench/end_to_end.py` watches while the pipeline runs: topic offsets and consumer lag, the sink's
progress, CPU seconds and memory per process (psutil), commit and websocket receipt times per batch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from devstack.replay_progress import sink_committed_offsets, sink_written
from shared import topics
from shared.frames import split
from shared.schema import NOTIFY_CHANNEL


@dataclass
class Sample:
    """Records (offsets) on each topic, the enricher's committed offsets and the sink's checkpointed ones,
    and the events the sink has written: a record is a frame of events (`shared.frames`)."""

    at: float
    raw: int
    clean: int
    dead: int
    enricher_committed: int
    sink_events: int
    sink_records: int = 0
    sink_caught_up: bool = True
    """Postgres holds the last batch the sink's writer took over (the pipelined writer commits it after
    Spark has recorded it as done)."""


@dataclass
class ProcessUse:
    cpu_s: float = 0.0
    peak_rss: int = 0


class ProcessWatch:
    """CPU seconds and peak resident memory of named process trees (a JVM child counted apart)."""

    def __init__(self) -> None:
        self.roots: dict[str, psutil.Process] = {}
        self.use: dict[str, ProcessUse] = {}

    def add(self, name: str, pid: int, split_children: str | None = None) -> None:
        with contextlib.suppress(psutil.Error):
            self.roots[name] = psutil.Process(pid)
            if split_children:
                self.roots[f"{name}:{split_children}"] = self.roots[name]

    def sample(self) -> None:
        for name, root in list(self.roots.items()):
            try:
                if ":" in name:  # the children only (Spark's JVM under the sink's Python driver)
                    tree = root.children(recursive=True)
                elif f"{name}:jvm" in self.roots:
                    tree = [root]
                else:
                    tree = [root, *root.children(recursive=True)]
                cpu = sum(sum(p.cpu_times()[:2]) for p in tree)
                rss = sum(p.memory_info().rss for p in tree)
            except psutil.Error:
                continue  # exited: keep its last sample
            use = self.use.setdefault(name, ProcessUse())
            use.cpu_s = max(use.cpu_s, cpu)
            use.peak_rss = max(use.peak_rss, rss)

    def snapshot(self) -> dict[str, float]:
        return {name: use.cpu_s for name, use in self.use.items()}


class Offsets:
    """End offsets of the pipeline's topics, the enricher group's committed offsets, the sink's progress."""

    def __init__(self, bootstrap: str, group: str, dsn: str, checkpoint: Path | None = None) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.dsn = dsn
        self.checkpoint = checkpoint
        self.samples: list[Sample] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._conn: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await self._consumer.start()
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await self._admin.start()
        self._conn = await asyncpg.connect(self.dsn)

    async def stop(self) -> None:
        if self._consumer:
            await self._consumer.stop()
        if self._admin:
            await self._admin.close()
        if self._conn:
            await self._conn.close()

    async def ends(self, topic: str) -> dict[TopicPartition, int]:
        assert self._consumer is not None
        parts = self._consumer.partitions_for_topic(topic) or set()
        if not parts:
            await self._consumer._client.force_metadata_update()
            parts = self._consumer.partitions_for_topic(topic) or set()
        offsets: dict[TopicPartition, int] = await self._consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return offsets

    async def sample(self) -> Sample:
        assert self._admin is not None
        assert self._conn is not None
        raw = sum((await self.ends(topics.RAW)).values())
        clean = sum((await self.ends(topics.CLEAN)).values())
        dead = sum((await self.ends(topics.DEAD_LETTER)).values())
        committed = await self._admin.list_consumer_group_offsets(self.group)
        enricher = sum(m.offset for tp, m in committed.items() if tp.topic == topics.RAW and m.offset > 0)
        sink = int(await self._conn.fetchval("SELECT coalesce(sum(events), 0) FROM sink_batches"))
        quarantined = int(await self._conn.fetchval("SELECT count(*) FROM sink_quarantine"))
        offsets = sink_committed_offsets(self.checkpoint) if self.checkpoint else {}
        caught_up = await sink_written(self.checkpoint, self._conn) if self.checkpoint else True
        found = Sample(
            time.monotonic(), raw, clean, dead, enricher, sink + quarantined, sum(offsets.values()), caught_up
        )
        self.samples.append(found)
        return found


@dataclass
class Receipts:
    """Wall-clock receipt times: NOTIFY per batch (right after its commit) and websocket pushes per batch."""

    committed: dict[int, float] = field(default_factory=dict)
    pushed: dict[int, float] = field(default_factory=dict)


async def listen_commits(dsn: str, receipts: Receipts, stop: asyncio.Event) -> None:
    conn = await asyncpg.connect(dsn)

    def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        receipts.committed.setdefault(int(payload), time.time())

    await conn.add_listener(NOTIFY_CHANNEL, on_notify)
    try:
        await stop.wait()
    finally:
        await conn.close()


async def listen_websocket(url: str, receipts: Receipts, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        while not stop.is_set():
            try:
                message = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if message.type != aiohttp.WSMsgType.TEXT:
                if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return
                continue
            doc = json.loads(message.data)
            if isinstance(doc.get("batch_id"), int):
                receipts.pushed.setdefault(doc["batch_id"], time.time())


async def publication_times(
    bootstrap: str, start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> tuple[dict[str, float], int]:
    """event_id -> the raw record's timestamp (set by the producer when it sent it), for [start, end);
    and the mean record (frame) size in bytes."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    found: dict[str, float] = {}
    size = records = 0
    try:
        consumer.assign(list(end))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        remaining = {tp for tp in end if end[tp] > start.get(tp, 0)}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, messages in batch.items():
                for m in messages:
                    size += len(m.value)
                    records += 1
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        for event in split(m.value):
                            found[json.loads(event)["event_id"]] = m.timestamp / 1000
                    if m.offset + 1 >= end[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return found, size // max(1, records)


async def batch_of_events(dsn: str, event_ids: Iterable[str]) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT event_id::text AS id, batch_id FROM records WHERE event_id = ANY($1::uuid[])", list(event_ids)
        )
    finally:
        await conn.close()
    return {r["id"]: r["batch_id"] for r in rows}


def percentiles(values: list[float], points: tuple[float, ...] = (50, 95, 99)) -> list[float]:
    if not values:
        return [float("nan")] * len(points)
    ordered = sorted(values)
    return [ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] for p in points]
