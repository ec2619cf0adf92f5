"""How far a replay's pipeline has got, read from Kafka's end offsets and the Spark sink's checkpoint.

Every raw event leaves the enricher exactly once, as a clean event or an enricher dead letter (faust
flushes its sends before it commits), so the enricher is through when clean + enricher dead letters
reach the raw topic's count. The sink is through when its checkpoint has a committed batch whose end
offsets reach the clean topic's end: Spark writes that commit only after `foreachBatch` returned, and
the Postgres transaction is committed inside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared import topics


@dataclass(frozen=True)
class Progress:
    raw_events: int
    clean_events: int
    clean_end: dict[int, int]
    sink_offsets: dict[int, int]
    dead_letters: list[tuple[str, str]] = field(default_factory=list)
    """(stage, reason) of every dead letter"""

    @property
    def enricher_dead_letters(self) -> int:
        return sum(1 for stage, _ in self.dead_letters if stage == "enricher")

    @property
    def enricher_done(self) -> bool:
        return self.clean_events + self.enricher_dead_letters >= self.raw_events

    @property
    def sink_done(self) -> bool:
        return all(self.sink_offsets.get(p, 0) >= end for p, end in self.clean_end.items())

    @property
    def drained(self) -> bool:
        return self.enricher_done and self.sink_done

    def __str__(self) -> str:
        sunk = sum(min(self.sink_offsets.get(p, 0), end) for p, end in self.clean_end.items())
        return (
            f"{self.raw_events} raw events, {self.clean_events} clean + {self.enricher_dead_letters} dead-lettered "
            f"by the enricher, {sunk}/{self.clean_events} clean events committed by the sink"
        )


def sink_committed_offsets(checkpoint: Path, topic: str = topics.CLEAN) -> dict[int, int]:
    """The end offsets of the last batch the Spark query committed ({} before the first)."""
    commits = [int(p.name) for p in (checkpoint / "commits").glob("[0-9]*") if p.name.isdigit()]
    if not commits:
        return {}
    lines = (checkpoint / "offsets" / str(max(commits))).read_text().splitlines()
    offsets: dict[str, dict[str, int]] = json.loads(lines[-1])
    return {int(p): int(o) for p, o in offsets.get(topic, {}).items()}


class TopicReader:
    """One topic's end offsets and values, from the earliest offset (a consumer of its own, no group)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
        )

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def end_offsets(self) -> dict[int, int]:
        partitions = [
            TopicPartition(self.topic, p) for p in sorted(self.consumer.partitions_for_topic(self.topic) or [])
        ]
        ends = await self.consumer.end_offsets(partitions) if partitions else {}
        return {tp.partition: offset for tp, offset in ends.items()}

    async def values(self) -> list[bytes]:
        """Every message value up to the topic's end as it is now."""
        ends = {TopicPartition(self.topic, p): o for p, o in (await self.end_offsets()).items()}
        values: list[bytes] = []
        while sum(min(seen, ends[tp]) for tp, seen in (await self._positions(ends)).items()) < sum(ends.values()):
            batch = await self.consumer.getmany(timeout_ms=1000)
            for tp, messages in batch.items():
                values.extend(m.value for m in messages if m.offset < ends[tp] and m.value is not None)
        return values

    async def _positions(self, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        assigned = self.consumer.assignment()
        return {tp: (await self.consumer.position(tp) if tp in assigned else 0) for tp in ends}


async def read_progress(bootstrap: str, checkpoint: Path) -> Progress:
    async with TopicReader(bootstrap, topics.RAW) as reader:
        raw = await reader.end_offsets()
    async with TopicReader(bootstrap, topics.CLEAN) as reader:
        clean = await reader.end_offsets()
    async with TopicReader(bootstrap, topics.DEAD_LETTER) as reader:
        letters = [json.loads(v) for v in await reader.values()]
    return Progress(
        raw_events=sum(raw.values()),
        clean_events=sum(clean.values()),
        clean_end=clean,
        sink_offsets=sink_committed_offsets(checkpoint),
        dead_letters=[(str(d.get("stage")), str(d.get("reason"))) for d in letters],
    )


async def count_raw_kinds(bootstrap: str) -> dict[str, int]:
    """Raw events by kind (start, end, stock): trips are the starts."""
    async with TopicReader(bootstrap, topics.RAW) as reader:
        values = await reader.values()
    kinds = {"start": 0, "end": 0, "stock": 0}
    for value in values:
        kind = str(json.loads(value)["kind"])
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds
