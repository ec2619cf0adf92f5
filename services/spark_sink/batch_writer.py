"""The `foreachBatch` function: a micro-batch DataFrame to Postgres through `write_events`.

Spark parses and checks on its executors (`stream.parse_clean_events`); the driver takes the batch as one
Arrow table (`toArrow()`: no pickled Row per event) and stages it in Postgres as CSV written by Arrow (no
Python object per value), on ONE persistent asyncpg connection driven by ONE event loop in a thread of
its own (not a new connection and a new loop per batch). Records Spark rejected are quarantined in the
same transaction; a record Postgres still refuses is isolated by bisection and quarantined too
(`refused`); transient errors are retried with backoff until a deadline (`quarantine` module: the rule).

**Pipelined** (`pipelined=True`, the service's default, `BIKESHARE_SINK_PIPELINED`): `foreachBatch(N)`
reads and parses batch N while batch N-1 is still being written, waits for that write to commit, hands
N to the writer thread and returns, so Spark's work on a batch overlaps Postgres's work on the one
before. Spark records batch N as done when the call returns, before N is committed in Postgres; a crash
in between would lose N, so the service rewrites the last batch its checkpoint holds as done before the
query starts (`last_batch`; writes are idempotent on the event id). A write that fails for good is
raised by the next batch, by `raise_failure()` (the service polls it) or by `close()`: the process exits 1.
Pipelined, a batch's write is also split in two transactions (`postgres_writer`): Records and the bikes'
intervals, then on a second connection the changed stations' history and sink_batches, which runs while
the next batch's first half does (one second half in flight at most; a note a crash leaves behind is
applied at the next start, `apply_pending()`).

Every attempt runs under the watch of its connection (`guarded_connection`): a connection closed under a
COPY, or an attempt outliving `write_timeout_s`, becomes a transient `PostgresLost` the retries handle.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.compute as pc
from prometheus_client import Counter, Gauge
from pyspark.sql import DataFrame
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_delay, wait_exponential

from services.spark_sink import quarantine
from services.spark_sink.guarded_connection import GuardedConnection
from services.spark_sink.handed_over import note_handed_over
from services.spark_sink.postgres_writer import BatchResult, Staged, apply_pending
from services.spark_sink.quarantine import Quarantined
from services.spark_sink.refused import Rows, write_batch
from shared import topics

logger = logging.getLogger(__name__)
T = TypeVar("T")

BATCHES = Counter("sink_batches_total", "Micro-batches committed to Postgres")
EVENTS = Counter("sink_events_inserted_total", "Clean events inserted into Records (after dedupe)")
QUARANTINED = Counter("sink_events_quarantined_total", "Clean-topic records quarantined (sink_quarantine)")
RETRIES = Counter("sink_write_retries_total", "Batch writes retried after a transient Postgres error")
LAST_BATCH_SECONDS = Gauge("sink_last_batch_seconds", "Wall time of the last micro-batch write")


class WriteFailed(Exception):
    """A batch's write failed for good (past the retry deadline, or a bug); the message names the batch."""


@dataclass(frozen=True)
class Timings:
    arrow_s: float
    rows_s: float
    write_s: float


@dataclass(frozen=True)
class _Pending:
    batch_id: int
    future: Future[BatchResult]
    started: float


class BatchWriter:
    """Callable as `foreachBatch(writer)`; `last` is the most recent committed `BatchResult`; `close()`
    at the end (it waits for a pipelined write still running)."""

    def __init__(
        self,
        dsn: str,
        retry_deadline_s: float = 300.0,
        retry_max_wait_s: float = 5.0,
        write_timeout_s: float = 300.0,
        pipelined: bool = False,
        checkpoint: Path | None = None,
    ) -> None:
        self.dsn = dsn
        self.retry_deadline_s = retry_deadline_s
        self.retry_max_wait_s = retry_max_wait_s
        self.write_timeout_s = write_timeout_s
        self.pipelined = pipelined
        self.checkpoint = checkpoint
        """Where a pipelined writer notes the batch it takes over (`handed_over`); needed for its restart."""
        self.last: BatchResult | None = None
        self.last_timings: Timings | None = None
        self._writes = GuardedConnection(dsn, write_timeout_s)
        self._history = GuardedConnection(dsn, write_timeout_s)
        """The pipelined writer's second connection, for the history's half."""
        self._applies: list[asyncio.Task[list[int]]] = []
        self._apply_failure: str | None = None
        self._started: float | None = None
        self._pending: _Pending | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sink-postgres", daemon=True)
        self._thread.start()

    @property
    def postgres_lost(self) -> str | None:
        """Why the last write attempt (either half) failed while it is being retried; None when writing works."""
        return self._writes.lost or self._history.lost

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def running_s(self) -> float | None:
        """Seconds the oldest unfinished work has been running: the batch in Spark's hands or the write
        still in flight (None when neither)."""
        now = time.monotonic()
        pending = self._pending
        started = [t for t in (self._started, pending and not pending.future.done() and pending.started) if t]
        return now - min(started) if started else None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        self._started = started = time.monotonic()
        try:
            table = batch.toArrow()
            arrow_s = time.monotonic() - started
            rejected = pc.is_valid(table.column("reject_reason"))
            good = table.filter(pc.invert(rejected))
            bad = quarantine.from_rows(table.filter(rejected).to_pylist()) if table.num_rows else []
            staged = Staged.of(good)  # the CSV to copy in, written while Postgres still takes the batch before
            prepared = time.monotonic()
            # The previous batch is committed before this one is handed over (and before Spark records
            # this one as done); its failure fails this batch.
            self.wait()
            write = self._logged(batch_id, staged, bad, started, arrow_s, prepared - started - arrow_s)
            self._pending = _Pending(batch_id, asyncio.run_coroutine_threadsafe(write, self._loop), prepared)
            if not self.pipelined:
                self.wait()
            elif self.checkpoint is not None:
                note_handed_over(self.checkpoint, batch_id)
        finally:
            self._started = None

    def wait(self) -> BatchResult | None:
        """Wait for the write in flight (if any) to commit; raise what made it fail for good."""
        pending = self._pending
        if pending is None:
            self._raise_apply_failure()
            return None
        try:
            result = pending.future.result()
        except Exception as exc:
            raise WriteFailed(f"batch {pending.batch_id}: the postgres write failed: {exc}") from exc
        finally:
            self._pending = None
        self._raise_apply_failure()
        return result

    def raise_failure(self) -> None:
        """Raise now if the write in flight has already failed for good (the service polls this: with no
        new data no next batch would raise it)."""
        pending = self._pending
        if pending is not None and pending.future.done() and pending.future.exception() is not None:
            self.wait()
        self._raise_apply_failure()

    def _raise_apply_failure(self) -> None:
        if self._apply_failure is not None:
            raise WriteFailed(self._apply_failure)

    async def _logged(
        self, batch_id: int, good: Staged, bad: list[Quarantined], started: float, arrow_s: float, rows_s: float
    ) -> BatchResult:
        self._applies = [task for task in self._applies if not task.done()]
        while len(self._applies) > 1:  # the history's half of the batch before the last one goes first
            await asyncio.wait({self._applies.pop(0)})
        writing = time.monotonic()
        result = await self._write_with_retries(batch_id, good, None, bad, history=not self.pipelined)
        if self.pipelined:
            previous = self._applies[-1] if self._applies else None
            self._applies.append(asyncio.get_running_loop().create_task(self._apply_after(previous, batch_id)))
        done = time.monotonic()
        self.last = result
        self.last_timings = Timings(arrow_s, rows_s, done - writing)
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
            rows_s,
            done - writing,
            extra={"topic": topics.CLEAN, "batch_id": batch_id},
        )
        return result

    async def _apply_after(self, previous: asyncio.Task[list[int]] | None, batch_id: int) -> list[int]:
        """Batch `batch_id`'s history half, after the one before it; a failure for good is kept for `wait`."""
        if previous is not None:
            await asyncio.wait({previous})
        started = time.monotonic()
        try:
            applied = await self._apply_with_retries(batch_id)
        except Exception as exc:  # kept, not raised: `wait` and `raise_failure` stop the service with it
            self._apply_failure = self._apply_failure or f"batch {batch_id}: the history's write failed: {exc}"
            logger.error(
                "batch %d: the history's write failed for good (%s); the sink stops (exit 1) and its restart "
                "applies it (the note stays in model_pending)",
                batch_id,
                exc,
                extra={"topic": topics.CLEAN, "batch_id": batch_id},
            )
            return []
        logger.info(
            "batch %d: history and sink_batches for batch(es) %s, %.2fs",
            batch_id,
            applied,
            time.monotonic() - started,
            extra={"topic": topics.CLEAN, "batch_id": batch_id},
        )
        return applied

    async def _apply_with_retries(self, batch_id: int | None) -> list[int]:
        label = -1 if batch_id is None else batch_id
        applied: list[int] = []

        async for attempt in self._retrying(self._history, label, "history write"):
            with attempt:
                conn = await self._history.connect()
                applied = await self._history.run(label, apply_pending(conn))
        self._history.lost = None
        return applied

    def apply_pending(self) -> list[int]:
        """Apply the history's half of any batch a stop or a crash left noted (at start, before the query)."""
        applied = self._run(self._apply_with_retries(None))
        if applied:
            logger.info("applied the history of batch(es) %s left noted by the last run", applied)
        return applied

    def _retrying(self, link: GuardedConnection | None = None, label: int = -1, what: str = "") -> AsyncRetrying:
        """Transient errors retried with exponential backoff until the retry deadline; with `link`, each failed
        attempt is counted, logged as batch `label`'s `what`, kept as the link's `lost` reason and its
        connection dropped (the next attempt connects again)."""

        def failed(state: RetryCallState, link: GuardedConnection) -> None:
            exc = state.outcome.exception() if state.outcome else None
            link.lost = f"{type(exc).__name__}: {exc}"
            RETRIES.inc()
            logger.warning(
                "batch %d: postgres %s failed (%s); retry %d in %.1fs",
                label,
                what,
                link.lost,
                state.attempt_number,
                state.upcoming_sleep,
                extra={"topic": topics.CLEAN, "batch_id": label},
            )
            link.drop()

        return AsyncRetrying(
            retry=retry_if_exception(quarantine.is_transient),
            wait=wait_exponential(multiplier=0.2, max=self.retry_max_wait_s),
            stop=stop_after_delay(self.retry_deadline_s),
            before_sleep=None if link is None else functools.partial(failed, link=link),
            reraise=True,
        )

    def has_batch(self, batch_id: int) -> bool:
        """Whether Postgres holds batch `batch_id` (`sink_batches`), retrying a lost connection."""
        return self._run(self._has_batch(batch_id))

    async def _has_batch(self, batch_id: int) -> bool:
        async for attempt in self._retrying():
            with attempt:
                conn = await self._writes.connect()
                found = await conn.fetchval("SELECT true FROM sink_batches WHERE batch_id = $1", batch_id)
        return bool(found)

    def write(
        self, batch_id: int, rows: Rows, coordinates: Sequence[tuple[Any, ...]] | None, bad: list[Quarantined]
    ) -> BatchResult:
        """Write one batch's rows (an Arrow table with the staging and coordinate columns, or
        `STAGING_COLUMNS` tuples and their Kafka coordinates) and its rejected records, retrying transient
        failures; raises once the retry deadline has passed."""
        return self._run(self._write_with_retries(batch_id, rows, coordinates, bad))

    def close(self) -> None:
        """Wait for the write in flight, then close; raises if that write failed for good."""
        try:
            self.wait()
        finally:
            try:
                self._run(self._drain_applies())  # the last history half, before its connection closes
            finally:
                for link in (self._writes, self._history):
                    self._run(link.close())
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=5)
                if not self._thread.is_alive():
                    self._loop.close()  # its self-pipe sockets too: an unclosed loop warns when collected
        self._raise_apply_failure()

    async def _drain_applies(self) -> None:
        if self._applies:
            await asyncio.wait(self._applies)
        self._applies = []

    async def _write_with_retries(
        self,
        batch_id: int,
        rows: Rows,
        coordinates: Sequence[tuple[Any, ...]] | None,
        bad: list[Quarantined],
        history: bool = True,
    ) -> BatchResult:
        try:
            async for attempt in self._retrying(self._writes, batch_id, "write"):
                with attempt:
                    conn = await self._writes.connect()
                    result = await self._writes.run(
                        batch_id, write_batch(conn, batch_id, rows, coordinates, bad, history)
                    )
        except quarantine.TRANSIENT as exc:
            self._writes.lost = f"{type(exc).__name__}: {exc}"
            logger.error(
                "batch %d: postgres still failing after %.0fs (%s); giving up: the query stops, the process "
                "exits 1 and its restart reruns the batch from the checkpoint (BIKESHARE_SINK_RETRY_DEADLINE_S)",
                batch_id,
                self.retry_deadline_s,
                self._writes.lost,
                extra={"topic": topics.CLEAN, "batch_id": batch_id},
            )
            raise
        self._writes.lost = None
        for record in bad:
            QUARANTINED.inc()
            logger.error(
                "quarantined: %s",
                record.reason,
                extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
            )
        return result
