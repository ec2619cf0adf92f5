"""The batch a crash may have left unwritten, rewritten before the query starts if Postgres lacks it.

The pipelined writer (`batch_writer`) returns from `foreachBatch(N)` while N's Postgres transaction may
still be running, and Spark then records N as done (`commits/N` in the checkpoint). A crash in that
window would skip N for good on restart. So the writer notes N in the checkpoint folder
(`handed_over`) when it hands N over, and at start, before the query: when Spark holds that batch as
done and `sink_batches` lacks it (every write records its batch id in its own transaction), N's exact
offset range, `offsets/N-1` (or the query's first offsets, `sources/0/0`, for N = 0) to `offsets/N`, is
read from Kafka as a batch query, parsed by the same `parse_clean_events` and written with batch id N.
Writes are idempotent on the event id, so whatever part of N did reach Postgres is not written twice.
Only N can be missing: a batch's write commits before the next is handed over. A batch the replay
tool's `reset` appends to the checkpoint (a new position, no data of its own) is never handed over, so
it is never taken for a lost one.

The check trusts batch ids: a checkpoint used with another database than the one it was written with
(restored from elsewhere) could find an unrelated batch N there and skip the rewrite.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession

from services.spark_sink.handed_over import handed_over
from services.spark_sink.settings import SparkSinkSettings
from services.spark_sink.stream import parse_clean_events

if TYPE_CHECKING:
    from services.spark_sink.batch_writer import BatchWriter

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


def handed_over_range(checkpoint: Path) -> tuple[int, Offsets, Offsets] | None:
    """The last handed-over batch and its offset range (start, end) when Spark holds it as done, else None
    (a batch Spark does not hold as done is rerun by Spark itself)."""
    batch = handed_over(checkpoint)
    if batch is None or batch not in _batch_ids(checkpoint / "commits"):
        return None
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
    """Rewrite the last handed-over batch if Spark holds it as done and Postgres lacks it; its id, or None."""
    found = handed_over_range(settings.spark_checkpoint_dir)
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
