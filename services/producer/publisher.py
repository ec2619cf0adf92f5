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

Full batches are built and compressed in a worker thread (`batches.py`: zstd releases the GIL, so the
other core compresses while this one frames), at most `BUILDING` at a time, and handed to `send_batch`
in the order they were filled.

Pacing (`Pacer`): an item due in the future first flushes what is open, then waits.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from services.producer.arrays import arrow
from services.producer.batches import BuiltBatch, Records
from shared import limits
from shared.frames import FrameBuilder

Item = tuple[str, bytes, bytes, int | None]
"""(topic, key, value, event time in µs or None)"""
BUILDING = 4
"""full batches (of up to max_batch_bytes each) being built in the thread before the loop waits for one"""


class Frames(FrameBuilder):
    """`FrameBuilder` fed a block of events at once: the same frames, cut by lengths, no per-event call."""

    def add_many(self, partitions: Any, events: Any) -> Iterator[tuple[int, bytes | memoryview]]:
        """`add` of each event (an Arrow binary array) to its partition (a numpy array), in order: the frames
        closed, partition by partition."""
        small = partitions.astype(np.uint8) if len(partitions) and int(partitions.max()) < 256 else partitions
        order = np.argsort(small, kind="stable")  # a radix sort for 8-bit numbers
        ordered = partitions[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        taken = events.take(arrow(order))
        lengths = np.diff(np.frombuffer(taken.buffers()[1], np.int32)[taken.offset : taken.offset + len(taken) + 1])
        for begin, end in zip(starts.tolist(), [*starts[1:].tolist(), len(order)], strict=True):
            yield from self._add_run(int(ordered[begin]), taken.slice(begin, end - begin), lengths[begin:end])

    def _add_run(self, partition: int, events: Any, lengths: Any) -> Iterator[tuple[int, bytes | memoryview]]:
        """One partition's events in order: the frames `add` would close (joined by Arrow, a call for all of
        them), the rest left open as `add` leaves it. A frame opened by `add` on a partition with none open
        counts 2 + len + 1 bytes for its first event, one opened by an overflow 2 + len: kept here."""
        count = len(events)
        at, fresh = 0, True
        if partition in self._open:  # first the open frame, as `add` would fill it
            room = self.max_events - len(self._open[partition])
            sizes = np.cumsum(lengths[:room] + 1)
            fit = int(np.searchsorted(sizes, self.max_bytes - self._bytes[partition], side="right"))
            if fit:
                self._open[partition] += events.slice(0, fit).to_pylist()
                self._bytes[partition] += int(sizes[fit - 1])
                at = fit
            if at == count and len(self._open[partition]) < self.max_events:
                return
            fresh = len(self._open[partition]) >= self.max_events  # closed by count, or the next event overflows
            yield partition, self._close(partition)
        sizes = np.cumsum(lengths + 1)
        ends: list[int] = []
        begin = at
        while begin < count:
            first = int(lengths[begin]) + 2 + (1 if fresh else 0)  # the frame's bytes with its first event
            fits = int(np.searchsorted(sizes, sizes[begin] + self.max_bytes - first, side="right"))
            end = max(begin + 1, min(begin + self.max_events, fits))
            if end >= count and end - begin < self.max_events:  # the last events stay open
                self._open[partition] = events.slice(begin).to_pylist()
                self._bytes[partition] = first + int(sizes[count - 1] - sizes[begin])
                break
            ends.append(end)
            fresh = end - begin == self.max_events
            begin = end
        if ends:
            # one join for all the frames: each event with "[" before a frame's first and "]" or "," after it,
            # so the frames lie one after the other in the result's bytes, each handed on as a view of them
            stops = np.array(ends, np.int64) - at
            n = int(stops[-1])
            opens = np.zeros(n + 1, np.int32)  # offsets of the "[" column: one byte at each frame's first event
            opens[np.r_[0, stops[:-1]] + 1] = 1
            np.cumsum(opens, out=opens)
            after = np.full(n, ord(","), np.uint8)
            after[stops - 1] = ord("]")
            joined = pc.binary_join_element_wise(
                pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(opens), pa.py_buffer(b"[" * len(stops))]),
                events.slice(at, n),
                pa.Array.from_buffers(
                    pa.binary(), n, [None, pa.py_buffer(np.arange(n + 1, dtype=np.int32)), pa.py_buffer(after)]
                ),
                b"",
            )
            where = np.frombuffer(joined.buffers()[1], np.int32)[joined.offset : joined.offset + len(joined) + 1]
            data = memoryview(joined.buffers()[2])
            for begin_at, end_at in zip(where[np.r_[0, stops[:-1]]].tolist(), where[stops].tolist(), strict=True):
                yield partition, data[begin_at:end_at]


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
        on_block: Callable[[], None] = lambda: None,
        frame_topics: frozenset[str] = frozenset(),
        frame_events: int = limits.FRAME_EVENTS_DEFAULT,
        frame_bytes: int = limits.FRAME_BYTES_DEFAULT,
        new_batch: Callable[[], Any] | None = None,
        zstd_level: int | None = None,
    ) -> None:
        """`new_batch`: makes an empty batch (default: the producer's `create_batch`); with `zstd_level`,
        uncompressed ones (`batches.Records`, or `batches.plain_batch`) compressed at that level in the build thread."""
        self.kafka = kafka
        self._new_batch = new_batch or kafka.create_batch
        self._zstd_level = zstd_level
        self._frames = {topic: Frames(frame_events, frame_bytes) for topic in frame_topics if frame_events > 1}
        self.window = window
        self.on_acked = on_acked
        self.on_item = on_item
        self.on_block = on_block
        self.partitions: dict[str, list[int]] = {}
        self._partition_of: dict[tuple[str, bytes], int] = {}
        self._open: dict[tuple[str, int], Any] = {}
        self._sent: list[asyncio.Future[Any]] = []
        self._building: deque[tuple[tuple[str, int], asyncio.Future[Any]]] = deque()
        self._builder: ThreadPoolExecutor | None = None
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

    async def publish_blocks(
        self, topic: str, blocks: Iterable[pa.Table], position: int, skip: int = 0, shard: tuple[int, int] = (0, 1)
    ) -> int:
        """Publish the events of `blocks` (tables of `spill.SCHEMA`, in order) as `publish` would publish them
        one by one, framed, with no Python object per event: each block's keys are mapped to partitions
        (and to this shard, crc32 of the key mod N) once per distinct key, and each partition's events of
        a window are cut into frames by their lengths. `skip`: events of this shard already acknowledged."""
        frames = self._frames[topic]
        every = self.window
        for block in blocks:
            keys = pc.dictionary_encode(block.column("key")).combine_chunks()
            names = keys.dictionary.to_pylist()
            codes = keys.indices.to_numpy(zero_copy_only=False)
            if shard[1] > 1:
                mine = np.array([zlib.crc32(key) % shard[1] == shard[0] for key in names], bool)
                block, codes = block.filter(arrow(mine[codes])), codes[mine[codes]]
            if skip:
                dropped = min(skip, block.num_rows)
                block, codes, skip = block.slice(dropped), codes[dropped:], skip - dropped
            if not block.num_rows:
                continue
            partitions = np.array([self.partition(topic, key) for key in names], np.int64)[codes]
            payloads = block.column("payload").combine_chunks()
            times = block.column("time_us").to_numpy()
            at = 0
            while at < block.num_rows:
                count = min(every - position % every, block.num_rows - at)
                for partition, frame in frames.add_many(partitions[at : at + count], payloads.slice(at, count)):
                    await self._append((topic, partition), None, frame)
                at += count
                position += count
                self.on_item(position, int(times[at - 1]))
                self.on_block()
                if position % every == 0:
                    await self._end_window(position, keep=1)
        await self._end_window(position, keep=0)
        return position

    async def _append(self, tp: tuple[str, int], key: bytes | None, value: bytes | memoryview) -> None:
        builder = self._open.get(tp)
        if builder is None:
            builder = self._open[tp] = self._new_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:
            await self._send(tp, builder)
            builder = self._open[tp] = self._new_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a {len(value)}-byte message does not fit in an empty batch ({tp[0]})")

    async def _send(self, tp: tuple[str, int], builder: BatchBuilder | Records) -> None:
        """Build `builder` in the thread, then send the batches built so far, in order."""
        if self._builder is None:
            self._builder = ThreadPoolExecutor(1, thread_name_prefix="batch-builder")
        built = asyncio.get_running_loop().run_in_executor(self._builder, BuiltBatch, builder, self._zstd_level)
        self._building.append((tp, built))
        while self._building and (self._building[0][1].done() or len(self._building) > BUILDING):
            await self._send_built()

    async def _send_built(self) -> None:
        tp, built = self._building.popleft()
        self._sent.append(await self.kafka.send_batch(await built, tp[0], partition=tp[1]))

    async def _send_open(self) -> None:
        for topic, frames in self._frames.items():
            for partition, frame in frames.drain():
                await self._append((topic, partition), None, frame)
        for tp, builder in list(self._open.items()):
            if builder.record_count():
                await self._send(tp, builder)
        self._open.clear()
        while self._building:
            await self._send_built()

    async def _end_window(self, position: int, keep: int) -> None:
        """Send what is open, then wait for acknowledgements until at most `keep` windows are in flight."""
        await self._send_open()
        self._in_flight.append((position, self._sent))
        self._sent = []
        while len(self._in_flight) > keep:
            acked, futures = self._in_flight.popleft()
            await asyncio.gather(*futures)
            self.on_acked(acked)
        if not keep and self._builder is not None:
            self._builder.shutdown()
            self._builder = None
