"""After the chaos: what Postgres, every web replica and the websocket client hold, against an
independent recomputation from the replayed trip files (csv module only, `bench.workload`).

Checked: every source event in Records exactly once (opening-stock rows aside); Frequency = trips
started per New York minute; per station, arrivals and departures in Records; every web replica
serves the same stations as the availability table; the websocket client that stayed connected
ends with that state too.

Availability and its history (`chaos_model`) are recomputed with the availability model's own test
recomputation (`tests/expected_model.py`, issue 5), opening stock included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.workload import SourceEvent, expected_events
from devstack.chaos_model import compare_availability

TRIP_RECORDS = "SELECT event_id::text AS id, station_id, kind FROM records WHERE kind IN ('start', 'end')"


@dataclass
class Verdict:
    expected: int
    lost: int
    duplicated: int
    unexpected: int
    checks: dict[str, str] = field(default_factory=dict)  # name -> "equal" | "DIFFER: why" | "not checked: why"
    serving: dict[str, str] = field(default_factory=dict)  # the web replicas and the websocket client, the same way

    @property
    def tables_equal(self) -> bool:
        return not any(v.startswith("DIFFER") for v in self.checks.values())

    @property
    def ok(self) -> bool:
        serving = not any(v.startswith("DIFFER") for v in self.serving.values())
        return self.lost == 0 and self.duplicated == 0 and self.unexpected == 0 and self.tables_equal and serving

    def last_line(self) -> str:
        tables = "equal" if self.tables_equal else "DIFFER"
        return f"chaos: {self.lost} lost, {self.duplicated} duplicated, tables {tables}"


def _compare(name: str, expected: Mapping[Any, int], actual: Mapping[Any, int]) -> str:
    if dict(expected) == dict(actual):
        return "equal"
    keys = set(expected) | set(actual)
    wrong = sorted((k for k in keys if expected.get(k) != actual.get(k)), key=str)
    sample = ", ".join(f"{k}: expected {expected.get(k)} got {actual.get(k)}" for k in wrong[:3])
    return f"DIFFER: {len(wrong)} of {len(keys)} {name} differ ({sample})"


def _records_verdict(by_id: Mapping[str, SourceEvent], rows: Sequence[asyncpg.Record]) -> Verdict:
    ids = Counter(r["id"] for r in rows)
    verdict = Verdict(
        expected=len(by_id),
        lost=len(set(by_id) - set(ids)),
        duplicated=sum(n - 1 for n in ids.values() if n > 1),
        unexpected=len(set(ids) - set(by_id)),
    )
    verdict.checks["records"] = (
        "equal"
        if (verdict.lost, verdict.duplicated, verdict.unexpected) == (0, 0, 0)
        else f"DIFFER: {verdict.lost} lost, {verdict.duplicated} duplicated, {verdict.unexpected} not in the files"
    )
    return verdict


def _station_counts(
    verdict: Verdict, source: Sequence[SourceEvent], by_id: Mapping[str, SourceEvent], rows: Sequence[asyncpg.Record]
) -> dict[str, str]:
    """Arrivals and departures per station; returns file station id -> the id the pipeline recorded.

    The enricher may rename a file's station id (the catalogue's canonical id); each file id must
    become exactly one station."""
    names: dict[str, set[str]] = {}
    for r in rows:
        if (event := by_id.get(r["id"])) is not None:
            names.setdefault(event.station_id, set()).add(r["station_id"])
    split = {raw: ids for raw, ids in names.items() if len(ids) > 1}
    renamed = {raw: next(iter(ids)) for raw, ids in names.items() if len(ids) == 1}
    expected: Counter[tuple[str, str]] = Counter((renamed.get(e.station_id, e.station_id), e.kind) for e in source)
    actual = Counter((r["station_id"], r["kind"]) for r in rows)
    verdict.checks["station arrivals/departures"] = (
        f"DIFFER: file station ids recorded under several ids: {dict(list(split.items())[:3])}"
        if split
        else _compare("station counts", expected, actual)
    )
    return renamed


def _with_bikes(state: Mapping[str, int]) -> dict[str, int]:
    # The API may list stations at 0 bikes or leave them out; compare the stations that have bikes.
    return {s: b for s, b in state.items() if b > 0}


async def _api_state(http: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with http.get(f"{url}/api/stations", timeout=aiohttp.ClientTimeout(total=15)) as response:
        response.raise_for_status()
        body = await response.json()
    return {s["station_id"]: int(s["bikes"]) for s in body["stations"]}


async def verify(dsn: str, files: Sequence[Path], web_urls: Sequence[str], ws_state: Mapping[str, int]) -> Verdict:
    source: list[SourceEvent] = list(expected_events(files))
    by_id = {e.event_id: e for e in source}
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(TRIP_RECORDS)
        verdict = _records_verdict(by_id, rows)
        frequency = {r["minute"]: int(r["amount"]) for r in await conn.fetch("SELECT minute, amount FROM frequency")}
        starts: Counter[datetime] = Counter(e.utc.replace(second=0, microsecond=0) for e in source if e.kind == "start")
        verdict.checks["frequency"] = _compare("minutes", starts, frequency)
        _station_counts(verdict, source, by_id, rows)
        verdict.checks.update(await compare_availability(conn, files))
        current = await conn.fetch("SELECT station_id, bikes FROM availability")
        availability = {r["station_id"]: int(r["bikes"]) for r in current}
    finally:
        await conn.close()
    table = _with_bikes(availability)
    async with aiohttp.ClientSession() as http:
        for url in web_urls:
            try:
                served = _with_bikes(await _api_state(http, url))
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                verdict.serving[f"web {url}"] = f"DIFFER: /api/stations failed: {exc!r}"
                continue
            verdict.serving[f"web {url}"] = _compare("stations (replica vs availability)", table, served)
    verdict.serving["websocket client"] = _compare("stations (client vs availability)", table, _with_bikes(ws_state))
    return verdict
