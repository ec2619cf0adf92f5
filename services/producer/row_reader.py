"""One CSV document's rows as checked `TripEvent`s and `BadRow`s (the producer's input boundary).

Besides the per-era parsing of `trip_rows`, every event is checked against `shared/limits.py`:
station id and name length and characters, and event times within the plausible range. A station
id or name spelled as a missing value (`NULL`, `NA`, `\\N`) becomes absent, never a station called
NULL. Malformed CSV (an unclosed quote running past the field limit), over-long lines and bytes that
are not UTF-8 become bad rows with their line number; the rest of the document goes on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO

import msgspec

from services.producer.documents import BadLine, text_lines
from services.producer.trip_rows import BadRow, FormatError, Layout, RowError, trip_events
from shared.events import TripEvent
from shared.limits import (
    PLAUSIBLE_FROM,
    plausible_until,
    station_id_problem,
    station_name_problem,
    time_problem,
    truncate_payload,
)

_MISSING = frozenset({"NA", "N/A", "NAN", "NULL", "NONE", "\\N"})


@dataclass(frozen=True)
class Plausible:
    """The range of event times accepted (configurable; default 2013-01-01 to now + 1 day)."""

    earliest: datetime = PLAUSIBLE_FROM
    latest: datetime | None = None

    def resolved(self) -> Plausible:
        return Plausible(self.earliest, self.latest or plausible_until())


def checked(event: TripEvent, plausible: Plausible) -> TripEvent:
    """The event with missing-value station fields cleared; raises `RowError` if it breaks a limit."""
    station_id, name = event.station_id, event.station_name
    if station_id is not None and station_id.upper() in _MISSING:
        station_id = None
    if name is not None and name.upper() in _MISSING:
        name = None
    if station_id is not None and (problem := station_id_problem(station_id)):
        raise RowError(f"{event.kind} {problem}")
    if name is not None and (problem := station_name_problem(name)):
        raise RowError(f"{event.kind} {problem}")
    if problem := time_problem(event.event_time, plausible.earliest, plausible.latest):
        raise RowError(f"{event.kind} {problem}")
    if station_id is not event.station_id or name is not event.station_name:
        return msgspec.structs.replace(event, station_id=station_id, station_name=name)
    return event


def read_document(source: str, stream: IO[bytes], plausible: Plausible) -> Iterator[TripEvent | BadRow]:
    """Events and bad rows of one CSV document, header first; `source#line` names each row.

    Raises `FormatError` if the header is not a trip header; I/O and decompression errors propagate
    (the caller rejects the document by name).
    """
    plausible = plausible.resolved()
    bad: list[BadLine] = []
    reader = csv.reader(text_lines(stream, bad))
    header: list[str] = []
    while not header:
        try:
            header = next(reader)
        except StopIteration:
            raise FormatError(source, "empty file" if not bad else f"unreadable header ({bad[0].reason})") from None
    layout = Layout.from_header(header, source)
    while True:
        first = reader.line_num + 1  # a row names the line it starts on (a quoted field may span lines)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield BadRow(f"{source}#{first}", f"malformed CSV (lines {first}-{reader.line_num}): {exc}", "")
            continue
        if bad:
            yield from (BadRow(f"{source}#{b.line}", b.reason, truncate_payload(b.payload)) for b in bad)
            bad.clear()
        if not row:
            continue
        where = f"{source}#{first}"
        try:
            start, end = trip_events(layout, row, where)
            start, end = checked(start, plausible), checked(end, plausible)
        except (RowError, ValueError, OverflowError) as exc:
            yield BadRow(where, str(exc), truncate_payload(",".join(row)))
            continue
        yield start
        yield end
    yield from (BadRow(f"{source}#{b.line}", b.reason, truncate_payload(b.payload)) for b in bad)
