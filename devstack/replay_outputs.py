"""What `./dev replay` writes: availability (now and at past moments), frequency, and the summary."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from devstack.replay_progress import Progress, count_raw_kinds

NEW_YORK = ZoneInfo("America/New_York")
AVAILABILITY_COLUMNS = ("station_id", "name", "lat", "lon", "bikes", "ebikes", "capacity", "docks")

_NOW = """
SELECT a.station_id, l.street AS name, l.lat, l.lon, a.bikes, a.ebikes, a.capacity, a.docks
FROM availability a JOIN location l USING (station_id) ORDER BY a.station_id
"""
# The state at a moment: every station seen by then, its latest history row at or before it (else none).
_AT = """
WITH seen AS (SELECT DISTINCT station_id FROM records WHERE event_time <= $1),
state AS (
    SELECT DISTINCT ON (station_id) station_id, bikes, ebikes FROM availability_history
    WHERE event_time <= $1 ORDER BY station_id, event_time DESC
)
SELECT s.station_id, l.street AS name, l.lat, l.lon,
       coalesce(h.bikes, 0) AS bikes, coalesce(h.ebikes, 0) AS ebikes, i.capacity,
       CASE WHEN i.capacity IS NULL THEN NULL ELSE greatest(i.capacity - coalesce(h.bikes, 0), 0) END AS docks
FROM seen s JOIN location l USING (station_id) LEFT JOIN state h USING (station_id)
LEFT JOIN station_info i USING (station_id)
ORDER BY s.station_id
"""


def reason_kind(reason: str) -> str:
    """A dead letter's reason without its particulars (ids, times, counts), to count alike reasons together."""
    kind = re.sub(r"'[^']*'", "'…'", reason)
    kind = re.sub(r"\([^)]*\)", "(…)", kind)
    return re.sub(r"\d+", "N", kind)


def at_name(moment: datetime) -> str:
    return "availability_at_" + moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") + ".csv"


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[Any]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows([[("" if r[c] is None else r[c]) for c in columns] for r in rows])


async def write_outputs(
    dsn: str,
    bootstrap: str,
    out: Path,
    moments: list[datetime],
    progress: Progress,
    files: list[Path],
    services: dict[str, str],
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        _write_csv(out / "availability.csv", AVAILABILITY_COLUMNS, await conn.fetch(_NOW))
        written = {}
        for moment in moments:
            name = at_name(moment)
            _write_csv(out / name, AVAILABILITY_COLUMNS, await conn.fetch(_AT, moment))
            written[moment.isoformat()] = name
        minutes = await conn.fetch("SELECT minute, amount FROM frequency ORDER BY minute")
        with (out / "frequency.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(("minute", "amount"))
            writer.writerows((r["minute"].astimezone(NEW_YORK).isoformat(), r["amount"]) for r in minutes)
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM records) AS records, (SELECT count(*) FROM availability) AS stations,"
            " (SELECT count(*) FROM availability WHERE bikes > 0) AS with_bikes,"
            " (SELECT count(*) FROM availability WHERE over_capacity) AS over_capacity,"
            " (SELECT count(*) FROM bike_rebalancing) AS rebalanced,"
            " (SELECT max(max_event_time) FROM sink_batches) AS as_of"
        )
        unmatched = [
            r["station_id"]
            for r in await conn.fetch(
                "SELECT station_id FROM location WHERE station_id NOT IN (SELECT station_id FROM station_info)"
                " ORDER BY station_id"
            )
        ]
    finally:
        await conn.close()
    kinds = await count_raw_kinds(bootstrap)
    by_stage: dict[str, Counter[str]] = {}
    examples: dict[str, str] = {}
    for stage, reason in progress.dead_letters:
        by_stage.setdefault(stage, Counter())[reason_kind(reason)] += 1
        examples.setdefault(reason_kind(reason), reason)
    producer_dead = sum(by_stage.get("producer", Counter()).values())
    summary = {
        "files": [str(f) for f in files],
        "rows": kinds["start"] + producer_dead,
        "trips": kinds["start"],
        "events_published": sum(kinds.values()),
        "stock_events": kinds["stock"],
        "dead_letters": {stage: dict(sorted(c.items())) for stage, c in sorted(by_stage.items())},
        "dead_letters_total": len(progress.dead_letters),
        "dead_letter_examples": dict(sorted(examples.items())),
        "records": counts["records"],
        "stations": counts["stations"],
        "stations_with_bikes": counts["with_bikes"],
        "over_capacity_stations": counts["over_capacity"],
        "unmatched_stations": len(unmatched),
        "unmatched_station_ids": unmatched,
        "rebalanced": counts["rebalanced"],
        "as_of": None if counts["as_of"] is None else counts["as_of"].isoformat(),
        "at": written,
        "services": services,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
