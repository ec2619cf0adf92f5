"""The last batch Spark's checkpoint holds as done, rewritten before the query starts if Postgres lacks it.

The pipelined writer (`batch_writer`) returns from `foreachBatch(N)` while N's Postgres transaction may
still be running, and Spark then records N as done (`commits/N` in the checkpoint). A crash in that
window would skip N for good on restart, so at start, before the query: the checkpoint's last committed
batch L is looked up in `sink_batches` (every write records its batch id in its own transaction); when
it is missing, L's exact offset range, `offsets/L-1` (or the query's first offsets, `sources/0/0`, for
L = 0) to `offsets/L`, is read from Kafka as a batch query, parsed by the same `parse_clean_events`
and written with batch id L. Writes are idempotent on the event id, so whatever part of L did reach
Postgres is not written twice. Only L can be missing: N's write commits before N+1 is handed over.

The check trusts batch ids: a checkpoint used with another database than the one it was written with
(restored from elsewhere) could find an unrelated batch L there and skip the rewrite.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from services.spark_sink.batch_writer import BatchWriter
from services.spark_sink.settings import SparkSinkSettings
from services.spark_sink.stream import parse_clean_events

logger = logging.getLogger(__name__)

Offsets = dict[str, dict[str, int]]
"""Spark's Kafka offsets JSON: topic -> partition (as text) -> offset."""


def _batch_ids(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def _offsets(path: Path) -> Offsets:
    """The source's offsets in a checkpoint log file: the last line (the first is the version, `v1`,
    after a NUL byte in `sources/0/0`; an offsets file has the batch metadata in between)."""
    lines = [line for line in path.read_text().lstrip("\x00").splitlines() if line.strip()]
    if not lines or lines[0] != "v1":
        raise ValueError(f"{path}: not a Spark checkpoint log file of version v1")
    offsets: Offsets = json.loads(lines[-1])
    return offsets


def last_committed(checkpoint: Path) -> tuple[int, Offsets, Offsets] | None:
    """The checkpoint's last committed batch id and its offset range (start, end), or None."""
    committed = _batch_ids(checkpoint / "commits")
    if not committed:
        return None
    batch = committed[-1]
    end = _offsets(checkpoint / "offsets" / str(batch))
    before = checkpoint / "offsets" / str(batch - 1)
    start = _offsets(before) if batch > 0 and before.exists() else _offsets(checkpoint / "sources" / "0" / "0")
    return batch, start, end


def _range_options(start: Offsets, end: Offsets) -> dict[str, str]:
    """Batch-read options for exactly [start, end): the end's partitions, a partition new since the start
    from its earliest offset (-2)."""
    assign = {topic: sorted(int(p) for p in parts) for topic, parts in end.items()}
    starting = {topic: {p: start.get(topic, {}).get(p, -2) for p in parts} for topic, parts in end.items()}
    return {"assign": json.dumps(assign), "startingOffsets": json.dumps(starting), "endingOffsets": json.dumps(end)}


def rewrite_last_batch(spark: SparkSession, settings: SparkSinkSettings, writer: BatchWriter) -> int | None:
    """Rewrite the checkpoint's last committed batch if Postgres does not have it; its id, or None."""
    found = last_committed(settings.spark_checkpoint_dir)
    if found is None:
        return None
    batch, start, end = found
    if writer.has_batch(batch):
        return None
    logger.warning(
        "batch %d is committed in the checkpoint but not in postgres (the sink stopped while writing it); "
        "rewriting it from offsets %s to %s",
        batch,
        json.dumps(start),
        json.dumps(end),
        extra={"batch_id": batch},
    )
    reader: Any = spark.read.format("kafka").option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
    for key, value in _range_options(start, end).items():
        reader = reader.option(key, value)
    reader = reader.option("failOnDataLoss", "true")
    writer(parse_clean_events(reader.load()), batch)
    writer.wait()
    return batch
