"""The producer benchmark's and tests' input: monthly trip files built from the real samples in ../shared/data.

The 2021 Jersey City file (rows not in time order) and the January 2018 NYC file, copied month after month
from 2014-01 with their times shifted so the months follow each other and trip ids made unique, until the
files hold at least the events asked for (`write_workload`).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCES = {
    "JC-202102": (DATA / "eveshi__postpandemic-citi-bike-usage" / "JC-202102-citibike-tripdata.csv", 2021, 2),
    "201801-1": (
        DATA / "EDA-GRUPO-5__EDA-2020-20-Reto-4-SEC-4-Grupo-5" / "Data" / "201801-1-citibike-tripdata.csv",
        2018,
        1,
    ),
}
TIME_COLUMNS = {"started_at", "ended_at", "starttime", "stoptime"}


@dataclass(frozen=True)
class Workload:
    files: list[Path]
    rows: int


def _month(index: int) -> datetime:
    """Month `index` of the workload, from 2014-01: 2 million events fill about 11 years, before today."""
    year, month = divmod(2014 * 12 + index, 12)
    return datetime(year, month + 1, 1)  # noqa: DTZ001 - New York wall-clock, as in the files


def _parsed(path: Path) -> tuple[list[str], list[list[str]], list[int], list[list[datetime]]]:
    with path.open(newline="") as f:
        table = list(csv.reader(f))
    header = table[0]
    columns = [i for i, name in enumerate(header) if name in TIME_COLUMNS]
    times = [[datetime.fromisoformat(row[i]) for i in columns] for row in table[1:]]
    return header, table[1:], columns, times


def write_workload(directory: Path, events: int, sources: tuple[str, ...] = ("JC-202102", "201801-1")) -> Workload:
    """Monthly CSV files (`YYYYMM-citibike-tripdata.csv`, from 2014-01 on) holding at least `events` events."""
    directory.mkdir(parents=True, exist_ok=True)
    parsed = {name: _parsed(SOURCES[name][0]) for name in sources}
    files: list[Path] = []
    rows = 0
    for index in itertools.count():
        if 2 * rows >= events:
            break
        name = sources[index % len(sources)]
        _, year, month = SOURCES[name]
        header, body, time_columns, times = parsed[name]
        shift = _month(index) - datetime(year, month, 1)  # noqa: DTZ001
        target = _month(index)
        path = directory / f"{target:%Y%m}-citibike-tripdata.csv"
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            suffix = f"-{index}" if "ride_id" in header else None
            for row in _shifted(body, times, time_columns, shift, suffix):
                writer.writerow(row)
                rows += 1
                if 2 * rows >= events:
                    break
        files.append(path)
    return Workload(files, rows)


def _shifted(
    body: list[list[str]], times: list[list[datetime]], columns: list[int], shift: timedelta, id_suffix: str | None
) -> Iterator[list[str]]:
    for row, moments in zip(body, times, strict=True):
        out = list(row)
        for i, moment in zip(columns, moments, strict=True):
            out[i] = (moment + shift).isoformat(" ")
        if id_suffix is not None:
            out[0] = row[0] + id_suffix
        yield out
