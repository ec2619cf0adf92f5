"""One CSV document's rows as checked `TripEvent`s and `BadRow`s (the producer's input boundary).

Besides the per-era parsing of `trip_rows`, every event is checked against `shared/limits.py` (the
limits the enricher and the sink check too): station id and name length and characters, and event
times within the plausible range. A station id spelled as a missing value (`NULL`, `NA`, `\\N`) becomes
absent, never a station called NULL. Malformed CSV (an unclosed quote running past the field limit),
over-long lines and bytes that are not UTF-8 become bad rows with their line number; the rest of the
document goes on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import msgspec

from services.producer.documents import BadLine, text_lines
from services.producer.trip_rows import BadRow, FormatError, Layout, RowError, trip_events
from shared import limits
from shared.events import TripEvent


@dataclass(frozen=True)
class Plausible:
    """The range of event times accepted (configurable; default `limits.EARLIEST_EVENT_TIME` to now + 1 day)."""

    earliest: datetime = limits.EARLIEST_EVENT_TIME
    latest: datetime | None = None

    def resolved(self) -> Plausible:
        return Plausible(self.earliest, self.latest or limits.latest_event_time())


def _text_problem(value: str, what: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"{what} is {len(value)} characters long (limit {limit})"
    if not value.isprintable() and (problem := limits.bad_text(value)):
        return f"{what} holds {problem}"
    return None


def checked(event: TripEvent, plausible: Plausible) -> TripEvent:
    """The event with placeholder station ids cleared; raises `RowError` if it breaks a limit."""
    station_id, name = event.station_id, event.station_name
    if station_id is not None and station_id.lower() in limits.STATION_ID_PLACEHOLDERS:
        station_id = None
    if name is not None and name.lower() in limits.STATION_ID_PLACEHOLDERS:
        name = None
    if station_id is not None and (problem := _text_problem(station_id, "station id", limits.STATION_ID_MAX)):
        raise RowError(f"{event.kind} {problem}")
    if name is not None and (problem := _text_problem(name, "station name", limits.STATION_NAME_MAX)):
        raise RowError(f"{event.kind} {problem}")
    at = event.event_time
    if at < plausible.earliest:
        raise RowError(f"{event.kind} time {at.isoformat()} is before {plausible.earliest.isoformat()}")
    if plausible.latest is not None and at > plausible.latest:
        raise RowError(f"{event.kind} time {at.isoformat()} is after {plausible.latest.isoformat()}")
    if station_id is not event.station_id or name is not event.station_name:
        return msgspec.structs.replace(event, station_id=station_id, station_name=name)
    return event


def _bad(source: str, line: BadLine) -> BadRow:
    return BadRow(f"{source}#{line.line}", line.reason, limits.clip(line.payload, limits.DEAD_LETTER_PAYLOAD_MAX))


def read_document(source: str, stream: IO[bytes], plausible: Plausible) -> Iterator[TripEvent | BadRow]:
    """Events and bad rows of one CSV document, header first; `source#line` names each row by its first line.

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
    yield from _rows(source, reader, bad, layout, plausible, 0)


def read_rest(
    source: str, stream: IO[bytes], layout: Layout, plausible: Plausible, line: int
) -> Iterator[TripEvent | BadRow]:
    """What `read_document` gives for the rest of a document whose lines before `line` were read elsewhere
    (the header among them): `stream` starts at the beginning of line `line`; `plausible` is resolved."""
    bad: list[BadLine] = []
    reader = csv.reader(text_lines(stream, bad, first=line))
    yield from _rows(source, reader, bad, layout, plausible, line - 1)


def row_items(layout: Layout, row: list[str], where: str, plausible: Plausible) -> tuple[TripEvent, TripEvent] | BadRow:
    """The two checked events of one CSV row, or the `BadRow` saying why it has none (`plausible` resolved)."""
    try:
        start, end = trip_events(layout, row, where)
        return checked(start, plausible), checked(end, plausible)
    except (RowError, ValueError, OverflowError) as exc:
        return BadRow(where, str(exc), limits.clip(",".join(row), limits.DEAD_LETTER_PAYLOAD_MAX))


def _rows(
    source: str, reader: Any, bad: list[BadLine], layout: Layout, plausible: Plausible, offset: int
) -> Iterator[TripEvent | BadRow]:
    """The rows of `reader` (a csv reader whose line 1 is the document's line `offset + 1`)."""
    while True:
        first = offset + reader.line_num + 1  # a row names the line it starts on (a quoted field may span lines)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            last = offset + reader.line_num
            yield BadRow(f"{source}#{first}", f"malformed CSV (lines {first}-{last}): {exc}", "")
            continue
        if bad:
            yield from (_bad(source, b) for b in bad)
            bad.clear()
        if not row:
            continue
        items = row_items(layout, row, f"{source}#{first}", plausible)
        if isinstance(items, BadRow):
            yield items
        else:
            yield from items
    yield from (_bad(source, b) for b in bad)
