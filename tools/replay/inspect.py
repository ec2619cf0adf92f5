"""`inspect`: dead letters grouped by stage and reason, every consumer's per-partition lag, one station's history.

Each function reads what it needs and returns rows; `__main__` prints them. The station history reads
only the partition the station's key hashes to (the clean topic is keyed by station id).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec
from aiokafka.partitioner import DefaultPartitioner

from shared import topics
from shared.events import EventError, EventKind, decode_dead_letter
from shared.frames import FrameError, is_frame, split
from tools.replay.common import Progress, admin, consumer, group_states, partitions_of, start_consumer
from tools.replay.reset import latest_batch


@dataclass
class ReasonGroup:
    stage: str
    reason: str
    count: int = 0
    examples: list[dict[str, str]] = field(default_factory=list)


def reason_kind(reason: str) -> str:
    """The reason without its particulars (quoted values, parenthesised details, numbers), to group on."""
    text = re.sub(r"\s*\([^)]*\)|\s*'[^']*'|\s*\"[^\"]*\"", "", reason)
    return re.sub(r"\d+", "N", text).strip()


async def read_all(bootstrap: str, topic: str, parts: list[int] | None = None) -> list[tuple[int, int, bytes | None]]:
    """(partition, offset, value) of every record present now."""
    kafka = consumer(bootstrap, group_id=None, max_poll_records=5000)
    await start_consumer(kafka)
    found: list[tuple[int, int, bytes | None]] = []
    try:
        every = await partitions_of(kafka, topic)
        wanted = [tp for tp in every if parts is None or tp.partition in parts]
        end, start = await kafka.end_offsets(wanted), await kafka.beginning_offsets(wanted)
        todo = [tp for tp in wanted if end[tp] > start[tp]]
        kafka.assign(todo)
        for tp in todo:
            kafka.seek(tp, start[tp])
        progress = Progress(f"reading {topic}", sum(end[tp] - start[tp] for tp in todo))
        while todo:
            for tp, messages in (await kafka.getmany(*todo, timeout_ms=1000)).items():
                found += [(m.partition, m.offset, m.value) for m in messages if m.offset < end[tp]]
                progress.advance(len(messages))
            for tp in list(todo):
                if await kafka.position(tp) >= end[tp]:
                    todo.remove(tp)
        progress.close()
    finally:
        await kafka.stop()
    return found


async def dead_letters(bootstrap: str, topic: str = topics.DEAD_LETTER, examples: int = 3) -> list[ReasonGroup]:
    groups: dict[tuple[str, str], ReasonGroup] = {}
    for partition, offset, value in await read_all(bootstrap, topic):
        try:
            letter = decode_dead_letter(value or b"")
            key = (letter.stage, reason_kind(letter.reason))
            example = {"reason": letter.reason, "source": letter.source, "payload": letter.payload[:200]}
        except EventError as exc:
            key = ("?", "not a DeadLetter record")
            example = {"reason": str(exc), "source": f"{topic}/{partition}@{offset}", "payload": repr(value)[:200]}
        group = groups.setdefault(key, ReasonGroup(*key))
        group.count += 1
        if len(group.examples) < examples:
            group.examples.append(example)
    return sorted(groups.values(), key=lambda g: (-g.count, g.stage, g.reason))


@dataclass
class Lag:
    consumer: str
    state: str
    topic: str
    partition: int
    position: int | None
    end: int

    @property
    def lag(self) -> int | None:
        return None if self.position is None else self.end - self.position


async def lags(bootstrap: str, checkpoint: Path | None = None, sink_topic: str = topics.CLEAN) -> list[Lag]:
    """Every consumer group's committed offset against the end, per partition; plus the Spark sink,
    whose offsets live in its checkpoint (not in Kafka) when `checkpoint` is given."""
    rows: list[Lag] = []
    async with admin(bootstrap) as client:
        groups = sorted(g[0] for g in await client.list_consumer_groups())
        states = await group_states(client, groups) if groups else {}
        committed = {g: await client.list_consumer_group_offsets(g) for g in groups}
    kafka = consumer(bootstrap, group_id=None)
    await start_consumer(kafka)
    try:
        for group in groups:
            offsets = committed[group]
            ends = await kafka.end_offsets(list(offsets)) if offsets else {}
            rows += [
                Lag(group, states.get(group, ("?", 0))[0], tp.topic, tp.partition, meta.offset, ends[tp])
                for tp, meta in sorted(offsets.items())
            ]
        if checkpoint is not None and (last := latest_batch(checkpoint / "offsets")) is not None:
            text = (checkpoint / "offsets" / str(last)).read_text().split("\n", 2)[2]
            positions = json.loads(text.splitlines()[0]).get(sink_topic, {})
            parts = await partitions_of(kafka, sink_topic)
            ends = await kafka.end_offsets(parts)
            done = "committed" if latest_batch(checkpoint / "commits") == last else "batch in flight"
            rows += [
                Lag(
                    f"spark-sink:{checkpoint}",
                    done,
                    sink_topic,
                    tp.partition,
                    positions.get(str(tp.partition)),
                    ends[tp],
                )
                for tp in parts
            ]
    finally:
        await kafka.stop()
    return rows


class _StationEvent(msgspec.Struct):
    """The fields a history shows, common to `CleanEvent` and `TripEvent` (so raw works too)."""

    event_id: str
    kind: EventKind
    event_time: datetime
    station_id: str | None = None
    bike_id: str | None = None
    count: int = 1


_station_event = msgspec.json.Decoder(_StationEvent)


@dataclass
class HistoryRow:
    event_time: datetime
    kind: str
    bike_id: str | None
    count: int
    event_id: str
    where: str


async def station_history(
    bootstrap: str, station_id: str, topic: str = topics.CLEAN, every_partition: bool = False
) -> tuple[list[HistoryRow], int]:
    """The station's events in event-time order (frames split, `shared.frames`), and how many records or
    frame elements could not be read as events."""
    kafka = consumer(bootstrap, group_id=None)
    await start_consumer(kafka)
    try:
        parts = [tp.partition for tp in await partitions_of(kafka, topic)]
    finally:
        await kafka.stop()
    key = station_id.encode()
    wanted = None if every_partition else [DefaultPartitioner()(key, parts, parts)]
    rows: list[HistoryRow] = []
    unreadable = 0
    for partition, offset, value in await read_all(bootstrap, topic, wanted):
        try:
            parts = split(value or b"")
        except FrameError:
            unreadable += 1
            continue
        framed = len(parts) > 1 or is_frame(value or b"")
        for index, part in enumerate(parts):
            try:
                event = _station_event.decode(part)
            except EventError:
                unreadable += 1
                continue
            if event.station_id == station_id:
                where = f"{topic}/{partition}@{offset}" + (f"#{index}" if framed else "")
                rows.append(
                    HistoryRow(event.event_time, event.kind.value, event.bike_id, event.count, event.event_id, where)
                )
    rows.sort(key=lambda r: (r.event_time, r.event_id))
    return rows, unreadable


def by_stage(groups: list[ReasonGroup]) -> dict[str, list[ReasonGroup]]:
    out: dict[str, list[ReasonGroup]] = defaultdict(list)
    for g in groups:
        out[g.stage].append(g)
    return dict(out)
