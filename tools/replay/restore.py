"""`restore`: a capture file back into a cluster, record by record, into the same partitions.

Everything is checked before the first write: the file (complete, our format and version), and the
target topics (created with the captured partition count and configs, or existing, empty and with at
least as many partitions). Each record keeps its key, value, headers, timestamp and partition, in
captured order; on an empty topic that had no gaps (no compaction, no transaction markers) even the
offsets come out the same.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from tools.replay import capture_format as fmt
from tools.replay.common import Exit, Progress, Refused, admin, consumer, start_consumer

logger = logging.getLogger(__name__)


async def prepare_topics(bootstrap: str, header: fmt.Header, rename: dict[str, str]) -> None:
    """Create missing topics like the captured ones; refuse a non-empty or smaller existing one."""
    kafka = consumer(bootstrap, group_id=None)
    await start_consumer(kafka)
    try:
        cluster = await kafka._client.fetch_all_metadata()  # fresh, unlike the consumer's cache
        existing = cluster.topics()
        missing: list[NewTopic] = []
        for info in header.topics:
            target = rename.get(info.name, info.name)
            if target not in existing:
                missing.append(NewTopic(target, info.partitions, 1, topic_configs=info.configs))
                continue
            parts = [TopicPartition(target, p) for p in sorted(cluster.partitions_for_topic(target) or ())]
            if len(parts) < info.partitions:
                raise Refused(
                    f"topic {target} has {len(parts)} partitions, the capture needs {info.partitions}; "
                    "restore into a new topic (--rename) or a fresh cluster",
                    Exit.UNSAFE,
                )
            ends = await kafka.end_offsets(parts)
            starts = await kafka.beginning_offsets(parts)
            if any(ends[tp] > starts[tp] for tp in parts):
                raise Refused(
                    f"topic {target} already holds records; restoring into it would mix runs. "
                    "Use a fresh cluster or --rename OLD=NEW",
                    Exit.UNSAFE,
                )
    finally:
        await kafka.stop()
    if missing:
        async with admin(bootstrap) as client:
            await client.create_topics(missing)
        logger.info("created topics %s", [t.name for t in missing])


async def restore(bootstrap: str, path: Path, rename: dict[str, str] | None = None) -> fmt.Header:
    rename = rename or {}
    header, parquet = fmt.read_header(path)  # refuses a truncated or foreign file before anything is written
    unknown = set(rename) - {t.name for t in header.topics}
    if unknown:
        raise Refused(f"--rename names topics not in the capture: {sorted(unknown)}")
    await prepare_topics(bootstrap, header, rename)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=20)
    await producer.start()
    progress = Progress(f"restoring {path.name}", header.records)
    try:
        pending = []
        for record in fmt.records(parquet):
            pending.append(
                await producer.send(
                    rename.get(record["topic"], record["topic"]),
                    value=record["value"],
                    key=record["key"],
                    partition=record["partition"],
                    timestamp_ms=record["timestamp_ms"],
                    headers=[(h["key"], h["value"]) for h in record["headers"]],
                )
            )
            progress.advance()
            if len(pending) >= 10_000:
                for future in pending:
                    await future
                pending.clear()
        for future in pending:
            await future
    finally:
        await producer.stop()
        progress.close()
    return header
