"""How far a replay's pipeline has got, read from Kafka's end offsets and the Spark sink's checkpoint.

Records carry frames of events (`shared.frames`), so progress is measured in offsets, not events: the
enricher acknowledges a batch only after its clean frames and dead letters are delivered, so it is through
when its consumer group's committed offsets reach the raw topic's end offsets. The sink is through when
its checkpoint has a committed batch whose end offsets reach the clean topic's end: Spark writes that
commit only after `foreachBatch` returned, and the Postgres transaction is committed inside it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.spark_sink.handed_over import handed_over
from shared import topics
from shared.frames import split

ENRICHER_GROUP = "bikeshare-enricher"
"""The enricher's consumer group (its `BIKESHARE_APP_ID` default)."""


@dataclass(frozen=True)
class Progress:
    raw_end: dict[int, int]
    enricher_offsets: dict[int, int]
    clean_end: dict[int, int]
    sink_offsets: dict[int, int]
    dead_letters: list[tuple[str, str]] = field(default_factory=list)
    """(stage, reason) of every dead letter"""
    sink_written: bool = True
    """Postgres holds the last batch the checkpoint has as done."""

    @property
    def enricher_dead_letters(self) -> int:
        return sum(1 for stage, _ in self.dead_letters if stage == "enricher")

    @property
    def enricher_done(self) -> bool:
        return all(self.enricher_offsets.get(p, 0) >= end for p, end in self.raw_end.items())

    @property
    def sink_done(self) -> bool:
        return self.sink_written and all(self.sink_offsets.get(p, 0) >= end for p, end in self.clean_end.items())

    @property
    def drained(self) -> bool:
        return self.enricher_done and self.sink_done

    def __str__(self) -> str:
        enriched = sum(min(self.enricher_offsets.get(p, 0), end) for p, end in self.raw_end.items())
        sunk = sum(min(self.sink_offsets.get(p, 0), end) for p, end in self.clean_end.items())
        return (
            f"{enriched}/{sum(self.raw_end.values())} raw records enriched ({self.enricher_dead_letters} events "
            f"dead-lettered by the enricher), {sunk}/{sum(self.clean_end.values())} clean records committed by the sink"
        )


def last_committed_batch(checkpoint: Path) -> int | None:
    """The id of the last batch the Spark query committed (None before the first)."""
    commits = [int(p.name) for p in (checkpoint / "commits").glob("[0-9]*") if p.name.isdigit()]
    return max(commits) if commits else None


def sink_committed_offsets(checkpoint: Path, topic: str = topics.CLEAN) -> dict[int, int]:
    """The end offsets of the last batch the Spark query committed ({} before the first)."""
    batch = last_committed_batch(checkpoint)
    if batch is None:
        return {}
    lines = (checkpoint / "offsets" / str(batch)).read_text().splitlines()
    offsets: dict[str, dict[str, int]] = json.loads(lines[-1])
    return {int(p): int(o) for p, o in offsets.get(topic, {}).items()}


async def sink_written(checkpoint: Path, conn: asyncpg.Connection) -> bool:
    """Whether Postgres holds the last batch the pipelined sink's writer took over (True before the first)."""
    batch = handed_over(checkpoint)
    return batch is None or bool(await conn.fetchval("SELECT true FROM sink_batches WHERE batch_id = $1", batch))


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


async def group_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The consumer group's committed offsets on `topic` ({} before its first commit, or while the group's
    coordinator is not available yet: the next poll asks again)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError:
        return {}
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return {tp.partition: int(meta.offset) for tp, meta in offsets.items() if tp.topic == topic}


async def read_progress(
    bootstrap: str, checkpoint: Path, dsn: str | None = None, group: str = ENRICHER_GROUP
) -> Progress:
    """Progress from Kafka and the checkpoint; with `dsn`, whether Postgres holds the last batch too."""
    async with TopicReader(bootstrap, topics.RAW) as reader:
        raw = await reader.end_offsets()
    async with TopicReader(bootstrap, topics.CLEAN) as reader:
        clean = await reader.end_offsets()
    async with TopicReader(bootstrap, topics.DEAD_LETTER) as reader:
        letters = [json.loads(v) for v in await reader.values()]
    written = True
    if dsn is not None:
        conn = await asyncpg.connect(dsn)
        try:
            written = await sink_written(checkpoint, conn)
        finally:
            await conn.close()
    return Progress(
        sink_written=written,
        raw_end=raw,
        enricher_offsets=await group_offsets(bootstrap, group, topics.RAW),
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
        for event in split(value):
            kind = str(json.loads(event)["kind"])
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds
