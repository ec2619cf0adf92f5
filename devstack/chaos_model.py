"""Availability and its history recomputed from the replayed trip files with the availability model's
own test oracle (`tests/test_postgres_writer.py: oracle`, the model's definition written plainly).

Inputs: every trip event of the files (`bench.workload.expected_events`: times, bikes, e-bike flag)
plus the opening-stock rows the producer derived from the same files (read from Records: the stock
itself is the model's subject, tested in tests/unit/test_opening_stock.py). Station ids are taken
under the id the pipeline recorded for each file id (the catalogue's canonical id).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from bench.workload import SourceEvent
from tests.test_postgres_writer import T0, Ev, oracle

HISTORY_MOMENTS = 12
STOCK_ROWS = "SELECT event_id, station_id, event_time, bike_id, rideable_type, count FROM records WHERE kind = 'stock'"
STATE_AT = (
    "SELECT DISTINCT ON (station_id) station_id, bikes, ebikes FROM availability_history "
    "WHERE event_time <= $1 ORDER BY station_id, event_time DESC"
)


@dataclass(frozen=True)
class _FileEv(Ev):
    """The oracle's event at a real instant (its own `Ev` counts minutes from a fixed T0)."""

    at: datetime = T0

    @property
    def time(self) -> datetime:
        return self.at


def _events(source: Sequence[SourceEvent], renamed: Mapping[str, str], stock: Sequence[asyncpg.Record]) -> list[Ev]:
    events: list[Ev] = [
        _FileEv(
            uuid.UUID(e.event_id).int,
            e.kind,
            renamed.get(e.station_id, e.station_id),
            0,
            e.bike_id,
            e.rideable_type,
            1,
            e.utc,
        )
        for e in source
    ]
    events += [
        _FileEv(
            r["event_id"].int,
            "stock",
            r["station_id"],
            0,
            r["bike_id"],
            r["rideable_type"],
            r["count"],
            r["event_time"],
        )
        for r in stock
    ]
    return events


def _nonzero(state: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {s: v for s, v in state.items() if v != (0, 0)}


async def compare_availability(
    conn: asyncpg.Connection, source: Sequence[SourceEvent], renamed: Mapping[str, str]
) -> dict[str, str]:
    """'equal' or 'DIFFER: ...' for the current availability and for the history at sampled moments."""
    events = _events(source, renamed, await conn.fetch(STOCK_ROWS))
    current = {r["station_id"]: (r["bikes"], r["ebikes"]) for r in await conn.fetch("SELECT * FROM availability")}
    last = max(e.time for e in events)
    results = {"availability": _differ(_nonzero(oracle(events, last + timedelta(days=1))), _nonzero(current))}
    times = sorted(e.time for e in events)
    moments = [times[(len(times) - 1) * i // (HISTORY_MOMENTS - 1)] for i in range(HISTORY_MOMENTS)]
    wrong = []
    for moment in moments:
        got = {r["station_id"]: (r["bikes"], r["ebikes"]) for r in await conn.fetch(STATE_AT, moment)}
        if (verdict := _differ(_nonzero(oracle(events, moment)), _nonzero(got))) != "equal":
            wrong.append(f"at {moment.isoformat()}: {verdict}")
    results["availability history"] = (
        f"equal (state at {len(moments)} moments)" if not wrong else f"DIFFER: {len(wrong)} moments; first {wrong[0]}"
    )
    return results


def _differ(expected: Mapping[str, tuple[int, int]], actual: Mapping[str, tuple[int, int]]) -> str:
    if dict(expected) == dict(actual):
        return "equal"
    keys = sorted(set(expected) | set(actual))
    bad = [k for k in keys if expected.get(k) != actual.get(k)]
    sample = ", ".join(f"{k}: expected {expected.get(k)} got {actual.get(k)}" for k in bad[:3])
    return f"DIFFER: {len(bad)} of {len(keys)} stations (bikes, ebikes) differ ({sample})"
