"""What the sink does with a record or an error it meets: quarantine, retry, or stop.

The rule (also in the README):

* **Quarantine** a record when the fault is in the record: Spark's checks (`stream.reject_reason`) refuse
  it, or Postgres refuses it with a data error (class 22: bad characters such as NUL, bad text for a
  type, out of range), an integrity violation (class 23) or a size limit (class 54: index row too big).
  It goes to `sink_quarantine` with the reason, its Kafka topic/partition/offset and its payload, in the
  same transaction as the batch's other rows, which go on.
* **Retry** with exponential backoff up to `BIKESHARE_SINK_RETRY_DEADLINE_S` when the fault is in the
  moment: the connection is lost or refused (class 08, server shutting down or starting: 57P01-57P03,
  network errors, timeouts), a serialization failure or deadlock (class 40), too many connections (53).
* **Stop** on anything else (a bug, a missing table): the query fails, the process exits 1, and a
  restart resumes from the checkpoint once it is fixed. Guessing would risk writing a batch wrongly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared import limits

PAYLOAD_MAX_BYTES = 16_384

TRANSIENT: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TransactionRollbackError,
    asyncpg.InsufficientResourcesError,
    asyncpg.InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
)
POISON: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


@dataclass(frozen=True)
class Quarantined:
    """One record the sink will not write, with where it came from and why."""

    topic: str
    partition: int
    offset: int
    reason: str
    payload: bytes
    frame_index: int = 0
    """the event's place in its record's frame (shared/frames.py); 0 for a single-event record"""


def from_rows(rows: Sequence[dict[str, Any]]) -> list[Quarantined]:
    """Rejected rows of a batch (Arrow `to_pylist()` dicts) as quarantine records."""
    return [
        Quarantined(
            r["topic"],
            int(r["partition"]),
            int(r["offset"]),
            str(r["reject_reason"]),
            r["payload"] or b"",
            int(r.get("frame_index") or 0),
        )
        for r in rows
    ]


_INSERT = """
INSERT INTO sink_quarantine
    (topic, kafka_partition, kafka_offset, batch_id, reason, payload, payload_bytes, frame_index)
SELECT * FROM unnest(
    $1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::text[], $6::bytea[], $7::int[], $8::int[]
)
ON CONFLICT DO NOTHING
"""


async def insert(conn: Any, batch_id: int, records: Sequence[Quarantined]) -> None:
    """Store `records` (idempotent: a replayed batch finds them already there)."""
    if not records:
        return
    await conn.execute(
        _INSERT,
        [q.topic for q in records],
        [q.partition for q in records],
        [q.offset for q in records],
        [batch_id] * len(records),
        [limits.clip(limits_safe(q.reason), limits.DEAD_LETTER_REASON_MAX) for q in records],
        [q.payload[:PAYLOAD_MAX_BYTES] for q in records],
        [len(q.payload) for q in records],
        [q.frame_index for q in records],
    )


def limits_safe(text: str) -> str:
    """`text` without NUL, which a Postgres text column cannot hold (reasons may quote the bad value)."""
    return text.replace("\x00", "\\x00")
