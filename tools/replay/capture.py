"""`capture`: whole topics (or a Kafka-time slice) into one capture file (see `capture_format`)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tools.replay import capture_format as fmt
from tools.replay.common import Progress, admin, consumer, offsets_at, partitions_of, start_consumer

logger = logging.getLogger(__name__)
BATCH = 5_000
KEPT_CONFIGS = ("cleanup.policy", "retention.ms", "message.timestamp.type", "compression.type")


async def topic_configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    async with admin(bootstrap) as client:
        described = await client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    configs: dict[str, dict[str, str]] = {t: {} for t in topics}
    for response in described:
        for resource in response.resources:
            _, _, _, name, entries = resource[:5]
            configs[name] = {e[0]: e[1] for e in entries if e[0] in KEPT_CONFIGS and e[1] is not None}
    return configs


async def capture(
    bootstrap: str, topics: list[str], path: Path, since: datetime | None = None, until: datetime | None = None
) -> fmt.Header:
    """Write every record of `topics` present now (Kafka timestamps in [since, until) if given) to `path`.

    The end offsets are fixed when the capture starts, so a running producer cannot make it endless.
    The file is written under a temporary name and renamed when complete."""
    configs = await topic_configs(bootstrap, topics)
    kafka = consumer(bootstrap, group_id=None)
    await start_consumer(kafka)
    tmp = path.with_name(path.name + ".partial")
    header = fmt.Header(topics=[], created_at=datetime.now(UTC).isoformat(), source_bootstrap=bootstrap)
    try:
        plan: list[tuple[fmt.TopicInfo, dict[TopicPartition, int], dict[TopicPartition, int]]] = []
        for topic in topics:
            parts = await partitions_of(kafka, topic)
            first = await kafka.beginning_offsets(parts)
            last = await kafka.end_offsets(parts)
            start = await offsets_at(kafka, parts, since, first)
            end = await offsets_at(kafka, parts, until, last)
            info = fmt.TopicInfo(topic, len(parts), configs.get(topic, {}))
            info.start_offsets = {str(tp.partition): start[tp] for tp in parts}
            info.end_offsets = {str(tp.partition): start[tp] for tp in parts}
            plan.append((info, start, end))
        total = sum(end[tp] - start[tp] for _, start, end in plan for tp in start)
        progress = Progress(f"capturing to {path.name}", total)
        writer = fmt.open_writer(tmp)
        try:
            for info, start, end in plan:
                await _capture_topic(kafka, info, start, end, writer, progress)
                header.topics.append(info)
            header.records = sum(t.records for t in header.topics)
            fmt.finish(writer, header)
        except BaseException:
            writer.close()
            tmp.unlink(missing_ok=True)
            raise
        progress.close()
        os.replace(tmp, path)
    finally:
        await kafka.stop()
    return header


async def _capture_topic(
    kafka: Any,
    info: fmt.TopicInfo,
    start: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
    writer: Any,
    progress: Progress,
) -> None:
    todo = [tp for tp in start if end[tp] > start[tp]]
    kafka.assign(todo)
    for tp in todo:
        kafka.seek(tp, start[tp])
    rows: dict[str, list[Any]] = {name: [] for name in fmt.SCHEMA.names}
    while todo:
        batches = await kafka.getmany(*todo, timeout_ms=1000, max_records=BATCH)
        for tp, messages in batches.items():
            for m in messages:
                if m.offset >= end[tp]:
                    break
                rows["topic"].append(m.topic)
                rows["partition"].append(m.partition)
                rows["offset"].append(m.offset)
                rows["timestamp_ms"].append(m.timestamp)
                rows["timestamp_type"].append(m.timestamp_type)
                rows["key"].append(m.key)
                rows["value"].append(m.value)
                rows["headers"].append([{"key": k, "value": v} for k, v in m.headers])
                info.end_offsets[str(tp.partition)] = m.offset + 1
                info.records += 1
                progress.advance(note=info.name)
            if tp in todo and (await kafka.position(tp)) >= end[tp]:
                todo.remove(tp)
        if len(rows["topic"]) >= BATCH or not todo:
            fmt.write_batch(writer, rows)
            rows = {name: [] for name in fmt.SCHEMA.names}
    logger.info("captured %d records of %s", info.records, info.name, extra={"topic": info.name})
