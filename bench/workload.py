"""A replay workload of any size from the real trip files in ../shared/data (for benchmarks and chaos).

`build_trip_files(out_dir, events)` writes trip CSV files, each a real source file (in its own format
era) with its dates moved, whole days at a time, so that file k falls in month k after January 2018:
the months follow each other and the producer replays them as one long stream. Copies of a file get
new trip identities (a `ride_id` suffix, or new start dates for pre-2021 files), so every event id is new.

Only rows whose every event is usable are written (both station ids and names present, coordinates
inside the service area, no time on a daylight-saving change day, no trip identity seen twice), so
the expected outcome is simply "every event of these files", which `expected_events` reads back
with the csv module alone.

    python -m bench.workload OUT_DIR 200000
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = (
    "EDA-GRUPO-5__EDA-2020-20-Reto-4-SEC-4-Grupo-5/Data/201801-1-citibike-tripdata.csv",
    "EDA-GRUPO-5__EDA-2020-20-Reto-4-SEC-4-Grupo-5/Data/201801-2-citibike-tripdata.csv",
    "eveshi__postpandemic-citi-bike-usage/JC-201901-citibike-tripdata.csv",
    "eveshi__postpandemic-citi-bike-usage/JC-202102-citibike-tripdata.csv",
    "cocteau__Data24/data/citibike.csv",
)
FIRST_MONTH = date(2018, 1, 1)
NEW_YORK = ZoneInfo("America/New_York")
# The event-id contract (shared/events.py, README "How the data flows"), restated here on purpose.
EVENT_NAMESPACE = uuid.UUID("6f1c2a52-3f4e-5b7a-9a51-8f0d2c1b7e43")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(.*)$")
_LAT, _LON = (40.4, 41.1), (-74.3, -73.6)
# Column names of the two header families (pre-2021 "start station id", 2021+ "start_station_id").
_COLUMNS = {
    "old": {"start": "starttime", "end": "stoptime", "bike": "bikeid", "ride": None, "rideable": None}
    | {f"{s}_{f}": f"{s} station {n}" for s in ("start", "end") for f, n in (("id", "id"), ("name", "name"))}
    | {f"{s}_lat": f"{s} station latitude" for s in ("start", "end")}
    | {f"{s}_lon": f"{s} station longitude" for s in ("start", "end")},
    "new": {"start": "started_at", "end": "ended_at", "bike": None, "ride": "ride_id", "rideable": "rideable_type"}
    | {f"{s}_{f}": f"{s}_station_{f}" for s in ("start", "end") for f in ("id", "name")}
    | {f"{s}_lat": f"{s}_lat" for s in ("start", "end")}
    | {f"{s}_lon": f"{s}_lng" for s in ("start", "end")},
}


@dataclass(frozen=True)
class Workload:
    files: list[Path]
    events: int


@dataclass(frozen=True)
class SourceEvent:
    event_id: str
    kind: str  # start | end
    station_id: str
    utc: datetime
    bike_id: str | None
    rideable_type: str | None


def _family(header: Sequence[str]) -> str:
    return "new" if "ride_id" in header else "old"


def _shift(text: str, days: int) -> str:
    match = _DATE.match(text)
    if match is None:
        raise ValueError(f"not an ISO date-time: {text!r}")
    moved = date(int(match[1]), int(match[2]), int(match[3])) + timedelta(days=days)
    return moved.isoformat() + match[4]


def _dst_day(day: date) -> bool:
    start = datetime(day.year, day.month, day.day, tzinfo=NEW_YORK)
    return start.utcoffset() != (start + timedelta(hours=23, minutes=59)).utcoffset()


def _usable(row: dict[str, str], cols: dict[str, str | None]) -> bool:
    for side in ("start", "end"):
        if not row[cols[f"{side}_id"] or ""].strip() or not row[cols[f"{side}_name"] or ""].strip():
            return False
        try:
            lat, lon = float(row[cols[f"{side}_lat"] or ""]), float(row[cols[f"{side}_lon"] or ""])
        except ValueError:
            return False
        if not (_LAT[0] <= lat <= _LAT[1] and _LON[0] <= lon <= _LON[1]):
            return False
    start, end = row[cols["start"] or ""], row[cols["end"] or ""]
    if not (_DATE.match(start) and _DATE.match(end)) or end < start:
        return False
    return not (_dst_day(date.fromisoformat(start[:10])) or _dst_day(date.fromisoformat(end[:10])))


def _month_shift(first_day: date, k: int) -> int:
    month = FIRST_MONTH.month - 1 + k
    target = date(FIRST_MONTH.year + month // 12, month % 12 + 1, 1)
    return (target - first_day.replace(day=1)).days


def build_trip_files(out_dir: Path, events: int, sources: Sequence[Path] | None = None) -> Workload:
    """Write at least `events` events' worth of trip CSVs into `out_dir` (the last file is cut to fit)."""
    paths = list(sources) if sources is not None else [SHARED_DATA / s for s in SOURCES]
    out_dir.mkdir(parents=True, exist_ok=True)
    written, files, k = 0, [], 0
    while written < events:
        source = paths[k % len(paths)]
        with source.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            cols = _COLUMNS[_family(header)]
            rows = [row for row in reader if _usable(row, cols)]
        if not rows:
            k += 1
            continue
        days = _month_shift(min(date.fromisoformat(r[cols["start"] or ""][:10]) for r in rows), k)
        month = min(date.fromisoformat(r[cols["start"] or ""][:10]) for r in rows) + timedelta(days=days)
        out = out_dir / f"{k:03d}-{month:%Y%m}-{source.stem}.csv"
        seen: set[str] = set()
        with out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=header, quoting=csv.QUOTE_MINIMAL)
            writer.writeheader()
            for row in rows:
                if written >= events:
                    break
                row = dict(row)
                row[cols["start"] or ""] = _shift(row[cols["start"] or ""], days)
                row[cols["end"] or ""] = _shift(row[cols["end"] or ""], days)
                if cols["ride"]:
                    row[cols["ride"]] = f"{row[cols['ride']]}-{k}"
                trip = _trip_id(row, cols)
                if trip in seen:
                    continue
                seen.add(trip)
                writer.writerow(row)
                written += 2
        files.append(out)
        k += 1
    return Workload(files, written)


def _trip_id(row: dict[str, str], cols: dict[str, str | None]) -> str:
    if cols["ride"]:
        return row[cols["ride"]].strip()
    return f"bike:{row[cols['bike'] or ''].strip()}@{row[cols['start'] or ''].strip()}"


def expected_events(files: Sequence[Path]) -> Iterator[SourceEvent]:
    """Every event of the workload's files, read with the csv module (ids by the documented contract)."""
    for path in files:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            cols = _COLUMNS[_family(list(reader.fieldnames or []))]
            for row in reader:
                trip = _trip_id(row, cols)
                bike = row[cols["bike"]].strip() or None if cols["bike"] else None
                rideable = row[cols["rideable"]].strip() or None if cols["rideable"] else None
                for kind in ("start", "end"):
                    local = datetime.fromisoformat(row[cols[kind] or ""].strip())
                    yield SourceEvent(
                        str(uuid.uuid5(EVENT_NAMESPACE, f"{trip}/{kind}")),
                        kind,
                        row[cols[f"{kind}_id"] or ""].strip(),
                        local.replace(tzinfo=NEW_YORK).astimezone(UTC),
                        bike,
                        rideable,
                    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workload", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("events", type=int)
    args = parser.parse_args(argv)
    workload = build_trip_files(args.out_dir, args.events)
    print(f"{workload.events} events in {len(workload.files)} files under {args.out_dir}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
