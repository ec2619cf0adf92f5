"""The `foreachBatch` function: a micro-batch DataFrame to Postgres through `write_events`.

Spark parses and filters on its executors; the driver collects the batch (5 s of events: thousands,
not millions) and writes it with asyncpg's COPY in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from prometheus_client import Counter, Gauge
from pyspark.sql import DataFrame

from services.spark_sink.postgres_writer import BatchResult, staging_row, write_events
from shared import topics

logger = logging.getLogger(__name__)

BATCHES = Counter("sink_batches_total", "Micro-batches committed to Postgres")
EVENTS = Counter("sink_events_inserted_total", "Clean events inserted into Records (after dedupe)")
UNPARSEABLE = Counter("sink_events_unparseable_total", "Clean-topic messages that did not parse")
LAST_BATCH_SECONDS = Gauge("sink_last_batch_seconds", "Wall time of the last micro-batch write")


class BatchWriter:
    """Callable as `foreachBatch(writer)`; `last` is the most recent `BatchResult`."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.last: BatchResult | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        collected = [r.asDict() for r in batch.collect()]
        good = [r for r in collected if r["event_id"] is not None and r["station_id"] is not None]
        if unparseable := len(collected) - len(good):
            UNPARSEABLE.inc(unparseable)
            first = next(r for r in collected if r["event_id"] is None or r["station_id"] is None)
            logger.error(
                "%d messages are not CleanEvents; first at partition %s offset %s",
                unparseable,
                first["partition"],
                first["offset"],
                extra={"topic": topics.CLEAN, "batch_id": batch_id},
            )
        rows = [staging_row(r) for r in good]
        result = asyncio.run(self._write(batch_id, rows))
        self.last = result
        BATCHES.inc()
        EVENTS.inc(result.inserted)
        LAST_BATCH_SECONDS.set(time.monotonic() - started)
        logger.info(
            "batch %d: %d events, %d new, %.2fs",
            batch_id,
            result.events,
            result.inserted,
            time.monotonic() - started,
            extra={"topic": topics.CLEAN, "batch_id": batch_id},
        )

    async def _write(self, batch_id: int, rows: list[tuple[object, ...]]) -> BatchResult:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await write_events(conn, batch_id, rows)
        finally:
            await conn.close()
