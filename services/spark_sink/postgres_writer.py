"""One micro-batch into Postgres, idempotent on the event id: one transaction, or two in the pipelined sink.

Records are inserted with ON CONFLICT DO NOTHING; the availability model (current state and history),
Location and Frequency are updated only from the rows that were really inserted, so a batch Spark
replays after a crash changes nothing twice. The statements and the model are in `model_sql`.
The batch's first half (`write_events`) ends with a note of the stations whose history changed; the
second (`apply_pending`) rebuilds their history and current state from the tables and records the batch
in sink_batches. Both run in one transaction unless the caller asks for the second apart: it is then
committed after the first, and a note a crash leaves behind is taken up by the next `apply_pending`
(the rebuild is idempotent). After the second half commits, listeners on `availability_changed` receive
the batch id (the web pushes then).

Records is partitioned by month of event time (migration 0060): the batch first creates the months it
needs, then inserts on the key (event_time, event_id). An event older than the dedup horizon (months
dropped by `records_retention`) is never inserted a second time: it goes to `sink_quarantine` with its
Kafka coordinates in this transaction (`BatchResult.expired` counts them). A row without coordinates
cannot be quarantined here: it fails the batch with check_violation (`asyncpg.CheckViolationError`, class
23), which the batch writer's bisection isolates and quarantines.

The boundary with the batch writer: `write_events(conn, batch_id, rows)` with `rows` an Arrow table
holding the `STAGING_COLUMNS` (Spark's batch: staged as CSV written by Arrow's C++ writer, no Python object
per value; a `Staged` table carries that CSV written ahead, outside the transaction) or a sequence of
tuples in that order (`staging_row` builds one from a parsed clean event;
tests, and the bisection that isolates a record Postgres refuses).
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv

from services.spark_sink import model_sql
from shared import topics
from shared.schema import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)

STAGING_COLUMNS = (
    "event_id",
    "event_time",
    "kind",
    "bike_id",
    "station_id",
    "street",
    "lat",
    "lon",
    "trip_id",
    "rideable_type",
    "count",
    "topic",
    "partition",
    "offset",
    "frame_index",
)
"""The staged columns: a clean event's fields, then its Kafka coordinates and place in its record's frame
(None when it did not come from Kafka), which an event older than the dedup horizon is quarantined with."""


@dataclass(frozen=True)
class BatchResult:
    batch_id: int
    events: int
    inserted: int
    expired: int = 0
    """Events older than the dedup horizon, quarantined instead of written."""


def staging_row(event: Mapping[str, Any]) -> tuple[object, ...]:
    """A parsed clean event (Spark row as dict) as a staging-table tuple."""
    event_time = event["event_time"]
    count = event.get("count")
    return (
        uuid.UUID(event["event_id"]),
        event_time if isinstance(event_time, datetime) else datetime.fromisoformat(event_time),
        event["kind"],
        event["bike_id"],
        event["station_id"],
        event["street"],
        event["lat"],
        event["lon"],
        event["trip_id"],
        event.get("rideable_type"),
        1 if count is None else int(count),
        event.get("topic"),
        event.get("partition"),
        event.get("offset"),
        event.get("frame_index"),
    )


@dataclass(frozen=True)
class Staged:
    """A batch's Arrow table with its staging CSV already written: the pipelined writer writes it while
    Postgres is still busy with the batch before, so the transaction only copies it in."""

    table: pa.Table
    csv: bytes

    @classmethod
    def of(cls, table: pa.Table) -> Staged:
        return cls(table, staging_csv(table) if table.num_rows else b"")


def staging_csv(table: pa.Table) -> bytes:
    """The table's `STAGING_COLUMNS` as CSV for COPY: a NULL is an unquoted empty field and an empty string
    a quoted one (Postgres's CSV rules), times are UTC with a `Z`, doubles with 17 digits (the same value)."""
    out = io.BytesIO()
    pa_csv.write_csv(table.select(list(STAGING_COLUMNS)), out, pa_csv.WriteOptions(include_header=False))
    return out.getvalue()


async def write_events(
    conn: Any, batch_id: int, rows: pa.Table | Staged | Sequence[tuple[object, ...]], history: bool = True
) -> BatchResult:
    """The batch in one transaction: Records, Location, Frequency, the bikes' intervals, and a note of the
    stations whose history changed (`model_pending`, `model_dirty`); with `history` (the default) the
    history's half runs in the same transaction (`apply_pending`), else the caller runs it after the commit
    (the pipelined sink, on a second connection: the batch is in sink_batches only then)."""
    if isinstance(rows, pa.Table):
        rows = Staged.of(rows)
    count = rows.table.num_rows if isinstance(rows, Staged) else len(rows)
    async with conn.transaction():
        await conn.execute(model_sql.STAGE)
        if isinstance(rows, Staged):
            if count:
                source = io.BytesIO(rows.csv)
                await conn.copy_to_table("incoming", source=source, columns=STAGING_COLUMNS, format="csv")
        else:
            await conn.copy_records_to_table("incoming", records=rows, columns=STAGING_COLUMNS)
        expired = int(await conn.fetchval(model_sql.QUARANTINE_EXPIRED, batch_id))
        if expired:
            logger.warning(
                "batch %d: %d events older than the dedup horizon quarantined (sink_quarantine), not written",
                batch_id,
                expired,
                extra={"topic": topics.CLEAN, "batch_id": batch_id},
            )
        await conn.execute(model_sql.ENSURE_PARTITIONS)
        await conn.execute(model_sql.INSERT_RECORDS, batch_id)
        inserted = int(await conn.fetchval("SELECT count(*) FROM inserted"))
        if inserted:
            await conn.execute(model_sql.UPSERT_LOCATION)
            for statement in model_sql.MODEL_STEPS:
                await conn.execute(statement)
            await conn.execute(model_sql.NOTE_DIRTY, batch_id)
            await conn.execute(model_sql.UPSERT_FREQUENCY)
        await conn.execute(model_sql.NOTE_PENDING, batch_id, count, inserted)
        if history:
            await apply_pending(conn)
    return BatchResult(batch_id, count, inserted, expired)


async def apply_pending(conn: Any) -> list[int]:
    """The history's half of every batch noted and not yet applied, in one transaction (or the caller's):
    the changed stations' history and current state rebuilt, the batches recorded in sink_batches and
    announced on `availability_changed`. Idempotent; returns the batch ids it applied."""
    async with conn.transaction():
        await conn.execute(model_sql.APPLY_LOCK)
        await conn.execute(model_sql.CLAIM_BATCHES)
        claimed = [int(r[0]) for r in await conn.fetch("SELECT batch_id FROM claimed ORDER BY batch_id")]
        if claimed:
            await conn.execute(model_sql.CLAIM_STATIONS)
            await conn.execute(model_sql.DELETE_HISTORY)
            await conn.execute(model_sql.REBUILD_HISTORY, claimed[-1])
            await conn.execute(model_sql.UPSERT_AVAILABILITY, claimed[-1])
            await conn.execute(model_sql.RECORD_BATCHES)
            await conn.execute(model_sql.NOTIFY_BATCHES, NOTIFY_CHANNEL)
    return claimed
