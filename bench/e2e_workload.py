"""Trip files for the end-to-end benchmark, made from the real samples in ../shared/data.

`throughput_files(events)`: the real files again and again, each round's times shifted one month earlier
(rounds follow each other month by month, all inside the plausible range) and its trip identities made
unique, until about `events` events; every file keeps its own format era, so the producer parses all eras.

`paced_file(events, span_s)`: one 2021+-format file whose trips are spread evenly over `span_s` seconds of
event time, for the latency phase (the producer replays it with `--speedup`).

Kept minimal on purpose: helper "cluster" owns a general `bench/workload.py`; this module only feeds
`bench/end_to_end.py`.
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
SAMPLES = sorted(p for p in DATA.glob("*/**/*.csv") if "Subway" not in p.name)
TIME_COLUMNS = {"starttime", "stoptime", "started_at", "ended_at", "start time", "stop time"}
ID_COLUMNS = {"ride_id", "bikeid", "bike id"}
FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")


@dataclass(frozen=True)
class TripFile:
    key: str
    body: bytes
    events: int


def _shift(text: str, by: timedelta) -> str:
    for fmt in FORMATS:
        try:
            moved = datetime.strptime(text, fmt) + by  # noqa: DTZ007 - wall-clock text in, same format out
        except ValueError:
            continue
        out = moved.strftime(fmt)
        # Keep the sample's fraction width (".4340", ".511").
        if "." in text and fmt.endswith(".%f"):
            out = out[: len(out) - 6 + len(text.rsplit(".", 1)[1])]
        return out
    return text


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _events(header: list[str], rows: list[list[str]]) -> int:
    names = [h.strip().lower() for h in header]
    station_columns = [i for i, n in enumerate(names) if n.endswith("station id") or n.endswith("station_id")]
    return sum(1 for row in rows for i in station_columns if i < len(row) and row[i].strip())


def _write(header: list[str], rows: Iterator[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _moved(rows: list[list[str]], times: list[int], ids: list[int], by: timedelta, suffix: str) -> Iterator[list[str]]:
    for original in rows:
        row = list(original)
        for i in times:
            row[i] = _shift(row[i], by)
        for i in ids:
            row[i] += suffix
        yield row


def throughput_files(events: int) -> list[TripFile]:
    samples = [(path, *_read(path)) for path in SAMPLES]
    files: list[TripFile] = []
    total = 0
    for round_ in range(10_000):
        for path, header, rows in samples:
            if total >= events:
                return files
            names = [h.strip().lower() for h in header]
            times = [i for i, n in enumerate(names) if n in TIME_COLUMNS]
            ids = [i for i, n in enumerate(names) if n in ID_COLUMNS]
            by = timedelta(days=-31 * round_)
            left = events - total
            take = rows if _events(header, rows) <= left else rows[: max(1, left // 2)]

            count = _events(header, take)
            key = f"bench/r{round_:03d}/{path.name}"
            suffix = f"R{round_}" if round_ else ""
            files.append(TripFile(key, _write(header, _moved(take, times, ids, by, suffix)), count))
            total += count
    return files


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
