"""The machine's limits, measured in the same run as `bench/end_to_end.py` on the same stack:

* the broker's own `ProducerPerformance` tool at the raw topic's mean message size and acks=all;
* a raw COPY of the same rows Postgres holds (asyncpg `copy_records_to_table` into a copy of `records`);
* a plain aiokafka consume -> `normalise` -> produce loop over the raw topic (batched fetches and sends).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from devstack import paths
from devstack.components import Kafka
from services.enricher.normalise import Rejection, TimeWindow, normalise
from services.enricher.stations import StationCatalogue
from shared import topics
from shared.events import encode
from shared.frames import FrameBuilder, split


def producer_perf(kafka: Kafka, records: int, size: int) -> float:
    """records/s of the broker's own producer tool (acks=all, linger 5 ms, lz4 like the enricher)."""
    out = subprocess.run(
        [
            kafka.java,
            "-Xmx512m",
            "-cp",
            kafka.classpath,
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            f"bench.perf.{uuid.uuid4().hex[:6]}",
            "--num-records",
            str(records),
            "--record-size",
            str(size),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={kafka.bootstrap}",
            "acks=all",
            "linger.ms=5",
            "batch.size=524288",
            "compression.type=lz4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    found = re.findall(r"([\d.]+) records/sec", out.stdout)
    return float(found[-1])


async def raw_copy(dsn: str) -> tuple[int, float]:
    """(rows, rows/s) of one COPY of every `records` row into a fresh table with the same indexes."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT * FROM records")
        columns = list(rows[0].keys()) if rows else []
        await conn.execute("DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (LIKE records INCLUDING ALL)")
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("bench_copy", records=[tuple(r) for r in rows], columns=columns)
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_copy")
    finally:
        await conn.close()
    return len(rows), len(rows) / elapsed if elapsed else 0.0


async def aiokafka_loop(bootstrap: str, records: int) -> tuple[float, float]:
    """(events/s, CPU µs per event of this process) of a plain consume-transform-produce loop over the
    first `records` raw records, frames in and frames out as the enricher does."""
    catalogue = StationCatalogue.from_gbfs(paths.ROOT / "data" / "stations" / "station_information.json")
    consumer = AIOKafkaConsumer(
        topics.RAW,
        bootstrap_servers=bootstrap,
        group_id=f"bench-loop-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=512 * 1024, compression_type="lz4"
    )
    out_topic = f"bench.loop.{uuid.uuid4().hex[:6]}"
    await consumer.start()
    await producer.start()
    done = taken = 0
    buckets = [0, 1, 2]  # frames grouped by station as the enricher does (the out topic is created on first send)
    started = time.perf_counter()
    cpu = time.process_time()
    try:
        idle_since = time.perf_counter()
        while taken < records:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batch:
                # Joining the group can take seconds on a loaded machine: give up only after 30 s idle.
                if time.perf_counter() - idle_since > 30:
                    break
                continue
            if done == 0:
                started, cpu = time.perf_counter(), time.process_time()
            idle_since = time.perf_counter()
            window = TimeWindow().refreshed()
            pending = []
            frames = FrameBuilder()
            for messages in batch.values():
                taken += len(messages)
                for m in messages:
                    for part in split(m.value):
                        done += 1
                        result = normalise(part, catalogue, window)
                        if isinstance(result, Rejection):
                            pending.append(await producer.send(out_topic + ".dead", part))
                            continue
                        bucket = DefaultPartitioner()(result.station_id.encode(), buckets, buckets)
                        if (frame := frames.add(bucket, encode(result))) is not None:
                            pending.append(await producer.send(out_topic, frame, key=str(bucket).encode()))
            for bucket, frame in frames.drain():
                pending.append(await producer.send(out_topic, frame, key=str(bucket).encode()))
            await asyncio.gather(*pending)
            await consumer.commit()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        await consumer.stop()
        await producer.stop()
    return (done / elapsed if elapsed else 0.0), (cpu / done * 1e6 if done else 0.0)
