"""Publishes the ordered sequence to Kafka fast: whole record batches per partition, windows acknowledged in order.

Per-message `send()` costs tens of µs of Python in aiokafka; filling a `BatchBuilder` per partition
(the key's partition is the Java client's murmur2, cached per key) and handing full batches to
`send_batch` costs a few. Every `window` items the open batches are sent and the window's futures are
kept; once the window before it is acknowledged, `on_acked(position)` is called (the durable resume
position). Two windows are in flight at a time, so the broker works while Python fills the next one.
Per partition, batches go out in the order they were filled, so each station's events stay ordered
(the producer is idempotent: retries do not reorder or duplicate).

Frames (`shared.frames`): items of a topic in `frame_topics` (the raw topic) are packed, per partition and
in order, into frames of up to `frame_events` events; each frame is one record (key: none, the partition
is chosen from the events' station key as before). The enricher and the sink pay their per-record costs
once per frame. Other topics (dead letters) keep one record per item.

Pacing (`Pacer`): an item due in the future first flushes what is open, then waits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from shared import limits
from shared.frames import FrameBuilder

Item = tuple[str, bytes, bytes, int | None]
"""(topic, key, value, event time in µs or None)"""


@dataclass
class Pacer:
    """Event time `anchor_us` is due at wall-clock `started`; `speed` event seconds pass per real second.
    Without an anchor, the first paced item sets it (and the clock), e.g. the first item after a resume."""

    speed: float
    anchor_us: int | None = None
    started: float = 0.0

    def delay(self, time_us: int) -> float:
        if self.anchor_us is None:
            self.anchor_us, self.started = time_us, time.monotonic()
        due = self.started + (time_us - self.anchor_us) / 1e6 / self.speed
        return due - time.monotonic()


class Publisher:
    def __init__(
        self,
        kafka: Any,
        window: int = 50_000,
        on_acked: Callable[[int], None] = lambda position: None,
        on_item: Callable[[int, int | None], None] = lambda position, time_us: None,
        frame_topics: frozenset[str] = frozenset(),
        frame_events: int = limits.FRAME_EVENTS_DEFAULT,
        frame_bytes: int = limits.FRAME_BYTES_DEFAULT,
    ) -> None:
        self.kafka = kafka
        self._frames = {topic: FrameBuilder(frame_events, frame_bytes) for topic in frame_topics if frame_events > 1}
        self.window = window
        self.on_acked = on_acked
        self.on_item = on_item
        self.partitions: dict[str, list[int]] = {}
        self._partition_of: dict[tuple[str, bytes], int] = {}
        self._open: dict[tuple[str, int], Any] = {}
        self._sent: list[asyncio.Future[Any]] = []
        self._in_flight: deque[tuple[int, list[asyncio.Future[Any]]]] = deque()

    async def prepare(self, topics: Iterable[str]) -> None:
        for topic in topics:
            self.partitions[topic] = sorted(await self.kafka.partitions_for(topic))

    def partition(self, topic: str, key: bytes) -> int:
        found = self._partition_of.get((topic, key))
        if found is None:
            every = self.partitions[topic]
            found = self._partition_of[(topic, key)] = DefaultPartitioner()(key, every, every)
        return found

    async def publish(self, items: Iterable[Item], position: int, pacer: Pacer | None = None) -> int:
        """Publish every item; `position` counts items already acknowledged before these. Returns the end position."""
        every = self.window
        for topic, key, value, time_us in items:
            if pacer is not None and time_us is not None and (delay := pacer.delay(time_us)) > 0:
                await self._send_open()
                await asyncio.sleep(delay)
            partition = self.partition(topic, key)
            frames = self._frames.get(topic)
            if frames is None:
                await self._append((topic, partition), key, value)
            elif (frame := frames.add(partition, value)) is not None:
                await self._append((topic, partition), None, frame)
            position += 1
            self.on_item(position, time_us)
            if position % every == 0:
                await self._end_window(position, keep=1)
        await self._end_window(position, keep=0)
        return position

    async def _append(self, tp: tuple[str, int], key: bytes | None, value: bytes) -> None:
        builder = self._open.get(tp)
        if builder is None:
            builder = self._open[tp] = self.kafka.create_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:
            await self._send(tp, builder)
            builder = self._open[tp] = self.kafka.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a {len(value)}-byte message does not fit in an empty batch ({tp[0]})")

    async def _send(self, tp: tuple[str, int], builder: Any) -> None:
        self._sent.append(await self.kafka.send_batch(builder, tp[0], partition=tp[1]))

    async def _send_open(self) -> None:
        for topic, frames in self._frames.items():
            for partition, frame in frames.drain():
                await self._append((topic, partition), None, frame)
        for tp, builder in list(self._open.items()):
            if builder.record_count():
                await self._send(tp, builder)
        self._open.clear()

    async def _end_window(self, position: int, keep: int) -> None:
        """Send what is open, then wait for acknowledgements until at most `keep` windows are in flight."""
        await self._send_open()
        self._in_flight.append((position, self._sent))
        self._sent = []
        while len(self._in_flight) > keep:
            acked, futures = self._in_flight.popleft()
            await asyncio.gather(*futures)
            self.on_acked(acked)
