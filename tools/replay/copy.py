"""`copy`: a topic, or a slice of it, into another topic (or back into the pipeline), at full speed or paced.

The slice is chosen by Kafka timestamp (`--by kafka-time`: offsets_for_times, reads only the slice)
or by the events' own `event_time` (`--by event-time`: reads the whole topic, keeps what falls in the
range). Keys, headers and timestamps are kept; the partition too when `--keep-partitions` (default:
the target's partitioner decides by key, which is the same partition when counts match).
`--speed N` paces by the chosen clock: N seconds of data per second (1 = as it happened).
A frame (`shared.frames`: one record holding many events, no key) keeps its partition, which its events'
stations chose; by event time, only its events inside the range are copied, as a frame of their own.
Counts (read, copied, outside the range, undecodable) are of events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer

from shared.frames import FrameError, is_frame, join, split
from tools.replay.common import (
    Progress,
    Refused,
    consumer,
    event_time,
    offsets_at,
    partitions_of,
    start_consumer,
    to_ms,
)

logger = logging.getLogger(__name__)
Clock = Literal["kafka-time", "event-time"]


@dataclass
class CopyReport:
    read: int = 0
    copied: int = 0
    outside_range: int = 0
    undecodable: int = 0
    seconds: float = 0.0


def events_of(value: bytes | None) -> list[bytes | None]:
    """The events of a record: each element of a frame, else the record's value itself."""
    if value is None:
        return [None]
    try:
        return list(split(value))
    except FrameError:
        return [value]


class Pacer:
    """Sleeps so that data time advances `speed` times faster than wall time (0 = never sleeps)."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin: tuple[float, float] | None = None

    async def wait(self, data_ms: float) -> None:
        if self.speed <= 0:
            return
        if self.origin is None:
            self.origin = (time.monotonic(), data_ms)
        started, first = self.origin
        delay = started + (data_ms - first) / 1000 / self.speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def copy_topic(
    bootstrap: str,
    source: str,
    target: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    clock: Clock = "kafka-time",
    speed: float = 0.0,
    keep_partitions: bool = False,
    target_bootstrap: str | None = None,
) -> CopyReport:
    if source == target and (target_bootstrap in (None, bootstrap)):
        raise Refused(f"copying {source} into itself would never end; give another --to topic")
    report = CopyReport()
    started = time.monotonic()
    kafka = consumer(bootstrap, group_id=None, max_poll_records=5000)
    producer = AIOKafkaProducer(
        bootstrap_servers=target_bootstrap or bootstrap, enable_idempotence=True, acks="all", linger_ms=20
    )
    await start_consumer(kafka)
    try:
        parts = await partitions_of(kafka, source)
        first, last = await kafka.beginning_offsets(parts), await kafka.end_offsets(parts)
        by_kafka = clock == "kafka-time"
        start = await offsets_at(kafka, parts, since if by_kafka else None, first)
        end = await offsets_at(kafka, parts, until if by_kafka else None, last)
        await producer.start()
        todo = [tp for tp in parts if end[tp] > start[tp]]
        kafka.assign(todo)
        for tp in todo:
            kafka.seek(tp, start[tp])
        progress = Progress(f"copying {source} -> {target}", sum(end[tp] - start[tp] for tp in todo))
        pacer = Pacer(speed)
        lo, hi = (to_ms(since) if since else None), (to_ms(until) if until else None)
        pending: list[Any] = []
        while todo:
            batches = await kafka.getmany(*todo, timeout_ms=1000)
            # Merge partitions by time so pacing (and the target's order across partitions) follows the clock.
            messages = sorted(
                (m for tp, ms in batches.items() for m in ms if m.offset < end[tp]), key=lambda m: m.timestamp
            )
            for m in messages:
                progress.advance()
                events = events_of(m.value)
                report.read += len(events)
                when: float = m.timestamp
                value = m.value
                if not by_kafka:
                    kept: list[tuple[float, bytes | None]] = []
                    for event in events:
                        moment = event_time(event)
                        if moment is None:
                            report.undecodable += 1
                        elif (lo is not None and to_ms(moment) < lo) or (hi is not None and to_ms(moment) >= hi):
                            report.outside_range += 1
                        else:
                            kept.append((to_ms(moment), event))
                    if not kept:
                        continue
                    when = kept[0][0]
                    if m.value is not None and is_frame(m.value) and len(kept) < len(events):
                        value = join([event or b"" for _, event in kept])
                    events = [event for _, event in kept]
                await pacer.wait(when)
                framed = m.value is not None and is_frame(m.value)
                pending.append(
                    await producer.send(
                        target,
                        value=value,
                        key=m.key,
                        partition=m.partition if keep_partitions or framed else None,
                        timestamp_ms=m.timestamp,
                        headers=list(m.headers),
                    )
                )
                report.copied += len(events)
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
            for tp in list(todo):
                if await kafka.position(tp) >= end[tp]:
                    todo.remove(tp)
        await asyncio.gather(*pending)
        progress.close()
    finally:
        await kafka.stop()
        await producer.stop()
    report.seconds = time.monotonic() - started
    return report
