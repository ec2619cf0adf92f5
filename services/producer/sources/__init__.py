"""Where trip files come from: one module per kind of source (S3, local files), behind one small interface.

A source lists `SourceObject`s and opens each as a seekable binary file that the reader (running in a
worker thread) reads synchronously; `documents.py` finds the CSVs inside. A new kind (e.g. Parquet on
another store) adds a module here and a branch in `selection.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO, Protocol

TRIP_FILE_SUFFIXES = (".csv", ".zip", ".parquet")  # .parquet: the preprocessing job's output

_PERIOD = re.compile(r"(?<![0-9])(20[0-9]{2})[-_]?(0[1-9]|1[0-2])?(?![0-9])")


class SourceError(Exception):
    """A listing or an object could not be read; the message names it and what to check."""


@dataclass(frozen=True)
class SourceObject:
    """One trip file: `url` (s3://bucket/key or a local path) names it in logs and dead letters."""

    url: str
    size: int
    version: str
    """ETag or modification time: a changed object changes the resume fingerprint."""

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


class Source(Protocol):
    def open(self, obj: SourceObject) -> BinaryIO:
        """A seekable binary file over the object (called from the reader's worker thread)."""
        ...


def period(name: str) -> tuple[int, int] | None:
    """(year, month) a file or zip member holds from its name; month 0 for a yearly file; None if unnamed.

    `201801-1-citibike-tripdata.csv` -> (2018, 1); `JC-201901-...` -> (2019, 1);
    `2014-citibike-tripdata.zip` -> (2014, 0); `2013-citibike-tripdata/201306-citibike-tripdata_1.csv` -> (2013, 6).
    """
    base = name.rstrip("/").rsplit("/", 1)[-1]
    found = _PERIOD.search(base)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def time_order_key(name: str) -> tuple[int, int, str]:
    """Files and members in the order of the months they hold, then by name (parts `_1`, `_2` in order)."""
    year, month = period(name) or (0, 0)
    return year, month, name


def in_months(name: str, months: tuple[tuple[int, int], tuple[int, int]] | None) -> bool:
    """Whether a name's period overlaps the inclusive month range; a yearly name overlaps its year's months."""
    if months is None:
        return True
    found = period(name)
    if found is None:
        return False
    (y0, m0), (y1, m1) = months
    year, month = found
    if month == 0:
        return y0 <= year <= y1
    return (y0, m0) <= (year, month) <= (y1, m1)
