"""The latency phase's trip file for `bench/end_to_end.py`, made from a real sample in ../shared/data.

`paced_file(events, span_s, start)`: one 2021+-format file whose trips are spread evenly over `span_s`
seconds of event time (the producer replays it with `--speedup`). The throughput phase's files come from
`bench/workload.py` (`build_trip_files`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from devstack import paths

DATA = paths.ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class TripFile:
    key: str
    body: bytes
    events: int


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _write(header: list[str], rows: Iterator[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def paced_file(events: int, span_s: float, start: datetime) -> TripFile:
    """`events` events (events/2 trips of 60 s each, all with both stations) spread evenly over `span_s`."""
    header, rows = _read(DATA / "cocteau__Data24" / "data" / "citibike.csv")
    names = [h.strip().lower() for h in header]
    col = {n: names.index(n) for n in ("ride_id", "started_at", "ended_at", "start_station_id", "end_station_id")}
    usable = [r for r in rows if r[col["start_station_id"]].strip() and r[col["end_station_id"]].strip()]
    trips = max(1, events // 2)
    step = span_s / trips
    out = []
    for n in range(trips):
        row = list(usable[n % len(usable)])
        began = start + timedelta(seconds=n * step)
        row[col["ride_id"]] = f"PACED{n:09d}"
        row[col["started_at"]] = began.strftime("%Y-%m-%d %H:%M:%S.000")
        row[col["ended_at"]] = (began + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.000")
        out.append(row)
    return TripFile(f"bench/paced-{start:%Y%m%d%H%M}.csv", _write(header, iter(out)), trips * 2)
