"""The `foreachBatch` function: a micro-batch DataFrame to Postgres through `write_events`.

Spark parses and checks on its executors (`stream.parse_clean_events`); the driver takes the batch as one
Arrow table (`toArrow()`: no pickled Row per event), turns it into rows column by column, and writes it
on ONE persistent asyncpg connection driven by ONE event loop in a thread of its own (not a new
connection and a new loop per batch). Records Spark rejected are quarantined in the same transaction;
a record Postgres still refuses is isolated by bisection and quarantined too; transient errors are
retried with backoff until a deadline (`quarantine` module: the rule).

Every attempt runs under a watch (`_guarded`): asyncpg's COPY waits for the socket to accept more data
with no timeout, and a connection lost while that wait is pending never wakes it (the loss resolves
the query's waiter, not the write-flow event), so a Postgres killed in the middle of a large COPY left
the batch hanging for ever with nothing logged. The watch cancels the attempt as soon as the
connection is closed, or when the attempt outlives `write_timeout_s` (a half-open connection), and
turns both into a transient `PostgresLost` that the retry loop handles like any lost connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client import Counter, Gauge
from pyspark.sql import DataFrame
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_delay, wait_exponential

from services.spark_sink import quarantine
from services.spark_sink.postgres_writer import STAGING_COLUMNS, BatchResult, write_events
from services.spark_sink.quarantine import POISON, Quarantined
from services.spark_sink.stream import COORDINATE_COLUMNS
from shared import topics

logger = logging.getLogger(__name__)
T = TypeVar("T")

BATCHES = Counter("sink_batches_total", "Micro-batches committed to Postgres")
EVENTS = Counter("sink_events_inserted_total", "Clean events inserted into Records (after dedupe)")
QUARANTINED = Counter("sink_events_quarantined_total", "Clean-topic records quarantined (sink_quarantine)")
RETRIES = Counter("sink_write_retries_total", "Batch writes retried after a transient Postgres error")
LAST_BATCH_SECONDS = Gauge("sink_last_batch_seconds", "Wall time of the last micro-batch write")


WATCH_S = 0.5
"""How often a running write checks that its connection is still open."""


class _Rollback(Exception):
    """Raised inside a probe transaction to undo it."""


class PostgresLost(ConnectionError):
    """A write attempt abandoned because its connection closed under it or it outlived its deadline."""


@dataclass(frozen=True)
class Timings:
    arrow_s: float
    rows_s: float
    write_s: float


class BatchWriter:
    """Callable as `foreachBatch(writer)`; `last` is the most recent `BatchResult`; `close()` at the end."""

    def __init__(
        self, dsn: str, retry_deadline_s: float = 300.0, retry_max_wait_s: float = 5.0, write_timeout_s: float = 300.0
    ) -> None:
        self.dsn = dsn
        self.retry_deadline_s = retry_deadline_s
        self.retry_max_wait_s = retry_max_wait_s
        self.write_timeout_s = write_timeout_s
        self.last: BatchResult | None = None
        self.last_timings: Timings | None = None
        self.postgres_lost: str | None = None
        """Why the last write attempt failed while it is being retried; None when writing works."""
        self._conn: asyncpg.Connection | None = None
        self._started: float | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sink-postgres", daemon=True)
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def running_s(self) -> float | None:
        """Seconds the batch in hand has been running (None between batches)."""
        started = self._started
        return None if started is None else time.monotonic() - started

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        self._started = started = time.monotonic()
        try:
            self._batch(batch, batch_id, started)
        finally:
            self._started = None

    def _batch(self, batch: DataFrame, batch_id: int, started: float) -> None:
        table = batch.toArrow()
        arrow_s = time.monotonic() - started
        rejected = pc.is_valid(table.column("reject_reason"))
        good = table.filter(pc.invert(rejected))
        bad = quarantine.from_rows(table.filter(rejected).to_pylist()) if table.num_rows else []
        rows = rows_of(good)
        coordinates = list(zip(*(good.column(c).to_pylist() for c in COORDINATE_COLUMNS), strict=True))
        converted = time.monotonic()
        result = self.write(batch_id, rows, coordinates, bad)
        done = time.monotonic()
        self.last = result
        self.last_timings = Timings(arrow_s, converted - started - arrow_s, done - converted)
        BATCHES.inc()
        EVENTS.inc(result.inserted)
        QUARANTINED.inc(result.expired)  # older than the dedup horizon: quarantined by write_events
        LAST_BATCH_SECONDS.set(done - started)
        logger.info(
            "batch %d: %d events, %d new, %d quarantined, %.2fs (arrow %.2f, rows %.2f, postgres %.2f)",
            batch_id,
            result.events,
            result.inserted,
            len(bad),
            done - started,
            arrow_s,
            self.last_timings.rows_s,
            self.last_timings.write_s,
            extra={"topic": topics.CLEAN, "batch_id": batch_id},
        )

    def write(
        self, batch_id: int, rows: list[tuple[Any, ...]], coordinates: list[tuple[Any, ...]], bad: list[Quarantined]
    ) -> BatchResult:
        """Write one batch's rows (`STAGING_COLUMNS` tuples, their Kafka coordinates) and its rejected
        records, retrying transient failures; raises once the retry deadline has passed."""
        return self._run(self._write_with_retries(batch_id, rows, coordinates, bad))

    def close(self) -> None:
        if self._conn is not None:
            self._run(self._conn.close(timeout=5))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()  # its self-pipe sockets too: an unclosed loop warns when collected

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            # command_timeout bounds each statement too (the watch bounds the whole attempt).
            self._conn = await asyncpg.connect(self.dsn, timeout=10, command_timeout=self.write_timeout_s)
        return self._conn

    async def _guarded(self, batch_id: int, attempt: Coroutine[Any, Any, T]) -> T:
        """Run one write attempt; abandon it (transient `PostgresLost`) once its connection is closed or
        it has run `write_timeout_s`."""
        if self._conn is not None and self._conn.is_closed():
            self._conn = None  # lost while idle: the attempt reconnects, the watch must not take it for a loss
        loop = asyncio.get_running_loop()
        task = loop.create_task(attempt)
        give_up = loop.time() + self.write_timeout_s
        while True:
            done, _ = await asyncio.wait({task}, timeout=WATCH_S)
            if done:
                return task.result()
            conn = self._conn
            if conn is not None and conn.is_closed():
                why = "the connection to postgres closed during the write"
            elif loop.time() > give_up:
                why = f"the write did not finish within {self.write_timeout_s:g}s (BIKESHARE_SINK_WRITE_TIMEOUT_S)"
            else:
                continue
            self.postgres_lost = why
            task.cancel()
            # Cancelling unblocks asyncpg's COPY; whatever it raises on the way out is superseded by `why`.
            await asyncio.wait({task}, timeout=5)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it as never retrieved
            if conn is not None:
                conn.terminate()
            self._conn = None
            raise PostgresLost(f"batch {batch_id}: {why}")

    async def _write_with_retries(
        self, batch_id: int, rows: list[tuple[Any, ...]], coordinates: list[tuple[Any, ...]], bad: list[Quarantined]
    ) -> BatchResult:
        def lost(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.postgres_lost = f"{type(exc).__name__}: {exc}"
            RETRIES.inc()
            logger.warning(
                "batch %d: postgres write failed (%s); retry %d in %.1fs",
                batch_id,
                self.postgres_lost,
                state.attempt_number,
                state.upcoming_sleep,
                extra={"topic": topics.CLEAN, "batch_id": batch_id},
            )
            if self._conn is not None:
                self._conn.terminate()
                self._conn = None

        retrying = AsyncRetrying(
            retry=retry_if_exception(quarantine.is_transient),
            wait=wait_exponential(multiplier=0.2, max=self.retry_max_wait_s),
            stop=stop_after_delay(self.retry_deadline_s),
            before_sleep=lost,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    result = await self._guarded(batch_id, self._write(batch_id, rows, coordinates, bad))
        except quarantine.TRANSIENT as exc:
            self.postgres_lost = f"{type(exc).__name__}: {exc}"
            logger.error(
                "batch %d: postgres still failing after %.0fs (%s); giving up: the query stops, the process "
                "exits 1 and its restart reruns the batch from the checkpoint (BIKESHARE_SINK_RETRY_DEADLINE_S)",
                batch_id,
                self.retry_deadline_s,
                self.postgres_lost,
                extra={"topic": topics.CLEAN, "batch_id": batch_id},
            )
            raise
        self.postgres_lost = None
        for record in bad:
            QUARANTINED.inc()
            logger.error(
                "quarantined: %s",
                record.reason,
                extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
            )
        return result

    async def _write(
        self, batch_id: int, rows: list[tuple[Any, ...]], coordinates: list[tuple[Any, ...]], bad: list[Quarantined]
    ) -> BatchResult:
        conn = await self._connection()
        try:
            async with conn.transaction():
                await quarantine.insert(conn, batch_id, bad)
                return await write_events(conn, batch_id, rows)
        except POISON as exc:
            logger.warning("batch %d: postgres refused a record (%s); isolating it", batch_id, exc)
        # Rare: Spark's checks let through something Postgres refuses. Find the records by bisection
        # (probe transactions that are rolled back), quarantine them, write the rest.
        refused = await self._isolate(conn, batch_id, rows, 0)
        for index, why in refused:
            topic, partition, offset, frame_index = coordinates[index]
            payload = json.dumps(dict(zip(STAGING_COLUMNS, rows[index], strict=True)), default=str).encode()
            bad.append(Quarantined(topic, partition, offset, f"postgres refused it: {why}", payload, frame_index))
        keep = [row for n, row in enumerate(rows) if n not in {index for index, _ in refused}]
        async with conn.transaction():
            await quarantine.insert(conn, batch_id, bad)
            return await write_events(conn, batch_id, keep)

    async def _isolate(
        self, conn: asyncpg.Connection, batch_id: int, rows: Sequence[tuple[Any, ...]], base: int
    ) -> list[tuple[int, str]]:
        try:
            async with conn.transaction():
                await write_events(conn, batch_id, rows)
                raise _Rollback
        except _Rollback:
            return []
        except POISON as exc:
            if len(rows) == 1:
                return [(base, str(exc))]
        middle = len(rows) // 2
        return await self._isolate(conn, batch_id, rows[:middle], base) + await self._isolate(
            conn, batch_id, rows[middle:], base + middle
        )


def rows_of(table: pa.Table) -> list[tuple[Any, ...]]:
    """The batch as `write_events` rows, column by column in `STAGING_COLUMNS` order (C loops, not a
    Python conversion per row and field)."""
    if not table.num_rows:
        return []
    return list(zip(*(table.column(name).to_pylist() for name in STAGING_COLUMNS), strict=True))
