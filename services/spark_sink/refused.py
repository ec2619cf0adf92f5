"""One batch's transaction, and the rare records Postgres refuses in it isolated by bisection.

Spark's checks (`stream.reject_reason`) should leave nothing Postgres refuses; when something still is
(a data error, an integrity violation, a size limit: `quarantine.POISON`), the batch is split in halves
in probe transactions that are rolled back until the refused records are found; they are quarantined with
Postgres's reason and their Kafka coordinates, and the rest of the batch is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg
import pyarrow as pa

from services.spark_sink import quarantine
from services.spark_sink.postgres_writer import STAGING_COLUMNS, BatchResult, Staged, write_events
from services.spark_sink.quarantine import POISON, Quarantined
from services.spark_sink.stream import COORDINATE_COLUMNS

logger = logging.getLogger(__name__)

Rows: TypeAlias = pa.Table | Staged | Sequence[tuple[Any, ...]]
"""A batch's good rows: Spark's Arrow table (its staging CSV possibly written ahead), or `STAGING_COLUMNS`
tuples."""


class _Rollback(Exception):
    """Raised inside a probe transaction to undo it."""


def rows_of(table: pa.Table) -> list[tuple[Any, ...]]:
    """The batch as `write_events` rows, column by column in `STAGING_COLUMNS` order (C loops, not a
    Python conversion per row and field). Only the bisection needs them."""
    if not table.num_rows:
        return []
    return list(zip(*(table.column(name).to_pylist() for name in STAGING_COLUMNS), strict=True))


def coordinates_of(table: pa.Table) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(c).to_pylist() for c in COORDINATE_COLUMNS), strict=True))


async def write_batch(
    conn: asyncpg.Connection,
    batch_id: int,
    rows: Rows,
    coordinates: Sequence[tuple[Any, ...]] | None,
    bad: list[Quarantined],
    history: bool = True,
) -> BatchResult:
    """The batch and its rejected records in one transaction; records Postgres refuses are found, added
    to `bad` and quarantined, the rest written. `coordinates` (topic, partition, offset, frame_index per
    row) may be None when `rows` is an Arrow table holding them. `history=False`: the history's half is
    the caller's (`postgres_writer.apply_pending`, after the commit)."""
    try:
        async with conn.transaction():
            await quarantine.insert(conn, batch_id, bad)
            return await write_events(conn, batch_id, rows, history)
    except POISON as exc:
        logger.warning("batch %d: postgres refused a record (%s); isolating it", batch_id, exc)
    if isinstance(rows, Staged):
        rows = rows.table
    if isinstance(rows, pa.Table):
        coordinates = coordinates_of(rows) if coordinates is None else coordinates
        rows = rows_of(rows)
    assert coordinates is not None, "tuple rows need their coordinates"
    refused = await _isolate(conn, batch_id, rows, 0)
    for index, why in refused:
        topic, partition, offset, frame_index = coordinates[index]
        payload = json.dumps(dict(zip(STAGING_COLUMNS, rows[index], strict=True)), default=str).encode()
        bad.append(Quarantined(topic, partition, offset, f"postgres refused it: {why}", payload, frame_index))
    keep = [row for n, row in enumerate(rows) if n not in {index for index, _ in refused}]
    async with conn.transaction():
        await quarantine.insert(conn, batch_id, bad)
        return await write_events(conn, batch_id, keep, history)


async def _isolate(
    conn: asyncpg.Connection, batch_id: int, rows: Sequence[tuple[Any, ...]], base: int
) -> list[tuple[int, str]]:
    try:
        async with conn.transaction():
            await write_events(conn, batch_id, rows, history=False)  # a probe: rolled back either way
            raise _Rollback
    except _Rollback:
        return []
    except POISON as exc:
        if len(rows) == 1:
            return [(base, str(exc))]
    middle = len(rows) // 2
    return await _isolate(conn, batch_id, rows[:middle], base) + await _isolate(
        conn, batch_id, rows[middle:], base + middle
    )
