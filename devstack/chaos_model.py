"""Availability and its history recomputed from the replayed trip files with the availability model's
own test recomputation (`tests/expected_model.py: expect`, issue 5): the trips read with `csv`, the
opening stock, the catalogue's canonical stations, and the model's rule for the state at any moment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncpg

from tests.expected_model import expect, moments_between

HISTORY_FRACTIONS = (0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95)
STATE_AT = (
    "SELECT DISTINCT ON (station_id) station_id, bikes, ebikes FROM availability_history "
    "WHERE event_time <= $1 ORDER BY station_id, event_time DESC"
)


def _nonzero(state: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {s: v for s, v in state.items() if v != (0, 0)}


def _differ(expected: Mapping[str, tuple[int, int]], actual: Mapping[str, tuple[int, int]]) -> str:
    if dict(expected) == dict(actual):
        return "equal"
    keys = sorted(set(expected) | set(actual))
    bad = [k for k in keys if expected.get(k) != actual.get(k)]
    sample = ", ".join(f"{k}: expected {expected.get(k)} got {actual.get(k)}" for k in bad[:3])
    return f"DIFFER: {len(bad)} of {len(keys)} stations (bikes, ebikes) differ ({sample})"


async def compare_availability(conn: asyncpg.Connection, files: Sequence[Path]) -> dict[str, str]:
    """'equal' or 'DIFFER: ...' for the current availability and for its history at moments of the replay."""
    expectation = expect(list(files))
    rows = await conn.fetch("SELECT station_id, bikes, ebikes FROM availability")
    current = {r["station_id"]: (r["bikes"], r["ebikes"]) for r in rows}
    results = {"availability": _differ(_nonzero(expectation.state_at()), _nonzero(current))}
    wrong = []
    moments = moments_between(expectation, HISTORY_FRACTIONS)
    for moment in moments:
        got = {r["station_id"]: (r["bikes"], r["ebikes"]) for r in await conn.fetch(STATE_AT, moment)}
        if (verdict := _differ(_nonzero(expectation.state_at(moment)), _nonzero(got))) != "equal":
            wrong.append(f"at {moment.isoformat()}: {verdict}")
    results["availability history"] = (
        f"equal (the state at {len(moments)} moments)" if not wrong else f"DIFFER: {len(wrong)} moments; {wrong[0]}"
    )
    return results
