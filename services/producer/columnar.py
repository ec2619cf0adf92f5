"""Vectorised reading of one CSV document (pyarrow + numpy): the records `row_reader` gives, byte for byte.

The exact path (`row_reader.read_document`: the csv module, two `TripEvent`s per row, msgspec) costs
about 9 µs of CPU an event. Here a document is read in chunks of whole lines (`BLOCK_BYTES`); a chunk
that is *well-formed* is parsed by pyarrow's C CSV reader and turned into records with column
operations: times parsed and moved from New York to UTC per column, the limits checked per column, the
event JSON assembled by Arrow string joins; only the uuid5 ids (one sha1 each) stay per event.

Byte-identical by construction, not by approximation:
* a chunk is well-formed when every line is shorter than the line limit, UTF-8, ends in `\\n` (or
  `\\r\\n`), holds the header's number of fields, and every `"` opens or closes a field on one line;
  then pyarrow's fields are exactly the csv module's, line by line. Otherwise the chunk is read by the
  exact path (and, when it holds quotes - a quoted field may run on into the next chunk - so is the rest
  of the document);
* a row is taken here only when every value it uses has a plain form (ISO or US times with valid
  fields, decimal coordinates or a missing-value spelling, strings with no surrounding white space and
  nothing JSON escapes, within the limits, times unambiguous in New York, plausible, end not before
  start). Any other row - every row that becomes a dead letter among them - is read by the exact
  path's `row_items` from its own line, in line order. tests/test_producer_columnar.py compares the
  two paths on every sample era and on rows built to hit each of these cases.

A failure while reading (a broken zip, a lost connection) keeps the complete lines read before it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from services.producer.arrays import arrow, binaries, strings
from services.producer.columnar_values import (
    coordinate_values,
    event_ids,
    iso_times,
    json_floats,
    json_strings,
    local_times,
    micros,
    new_york_to_utc,
    string_values,
)
from services.producer.documents import READ_BUFFER, prefixed
from services.producer.row_reader import Plausible, read_document, read_rest, row_items
from services.producer.spill import SCHEMA
from services.producer.trip_rows import _ALIASES, BadRow, Layout
from shared import limits
from shared.events import TripEvent

BLOCK_BYTES = 4 * 1024 * 1024
"""bytes of whole lines parsed at once: large enough that per-chunk costs vanish, small enough for memory"""


@dataclass
class Block:
    """The records of a chunk's plain rows (its other rows come as the exact path's items)."""

    records: pa.Table
    """`spill.COLUMNS`"""
    rows: int
    last: str
    """`source#line` of the chunk's last line"""


def read_document_columnar(
    source: str, stream: IO[bytes], plausible: Plausible, start_us: int | None, until_us: int | None
) -> Iterator[TripEvent | BadRow | Block]:
    """`row_reader.read_document`'s items for `source`, plain rows as `Block`s of records already filtered
    to [start_us, until_us); raises what it raises."""
    plausible = plausible.resolved()
    first = stream.readline(limits.MAX_LINE_BYTES)
    header = _header(first)
    if header is None:  # a blank, broken or over-long first line: the exact path knows what to say
        yield from read_document(source, prefixed(first, stream), plausible)
        return
    layout = Layout.from_header(header, source)
    chunks = _Chunks(source, layout, plausible, start_us, until_us)
    read = getattr(stream, "read1", stream.read)
    pending, line, failure = b"", 2, None
    while True:
        parts, size, end = [pending], len(pending), False
        try:
            while size < BLOCK_BYTES:
                data = read(READ_BUFFER)
                if not data:
                    end = True
                    break
                parts.append(data)
                size += len(data)
        except Exception as exc:  # what was read before it is read; then it propagates
            failure, end = exc, True
        data = b"".join(parts)
        cut = len(data) if end and failure is None else data.rfind(b"\n") + 1
        chunk, pending = data[:cut], data[cut:]
        if chunk and not chunk.endswith(b"\n"):
            chunk += b"\n"  # the last line of the document: the csv module reads it the same
        if not chunk and not end:  # no line end in a whole block: an over-long line, the exact path's case
            yield from read_rest(source, prefixed(pending, stream), layout, plausible, line)
            return
        items = chunks.read(chunk, line) if chunk else []
        if items is None:
            if not _quotes_on_their_lines(chunk) and failure is None:  # a quoted field may run on: exact from here
                yield from read_rest(source, prefixed(chunk + pending, stream), layout, plausible, line)
                return
            yield from read_rest(source, prefixed(chunk, None), layout, plausible, line)
        else:
            yield from items
        line += chunk.count(b"\n")
        if failure is not None:
            raise failure
        if end:
            return


def _header(line: bytes) -> list[str] | None:
    if not line.endswith(b"\n") or len(line) >= limits.MAX_LINE_BYTES or line.count(b'"') % 2:
        return None
    try:
        text = line.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        return None
    row = next(csv.reader([text]), [])
    return row or None


class _Chunks:
    """Reads well-formed chunks of one document."""

    def __init__(
        self, source: str, layout: Layout, plausible: Plausible, start_us: int | None, until_us: int | None
    ) -> None:
        self.source, self.layout, self.plausible = source, layout, plausible
        self.names = [f"c{i}" for i in range(layout.width)]
        self.fields = {field: self.names[i] for field, i in zip(_ALIASES, layout.order, strict=True) if i is not None}
        self.earliest = micros(plausible.earliest)
        self.latest = micros(plausible.latest) if plausible.latest is not None else None
        self.start_us, self.until_us = start_us, until_us
        self.source_json = msgspec.json.encode(f"{source}#")[:-1]  # + line digits + '"'
        self.options = (
            pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
            pacsv.ConvertOptions(
                column_types=dict.fromkeys(self.fields.values(), pa.string()),
                include_columns=list(dict.fromkeys(self.fields.values())),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )

    def read(self, chunk: bytes, line: int) -> list[TripEvent | BadRow | Block] | None:
        """The items of a chunk starting at document line `line`, or None when it is not well-formed."""
        raw = np.frombuffer(chunk, np.uint8)
        ends = np.flatnonzero(raw == 10)
        if not _well_formed(chunk, raw, ends):
            return None
        try:
            table = pacsv.read_csv(
                pa.py_buffer(chunk),
                read_options=pacsv.ReadOptions(column_names=self.names, use_threads=False, block_size=1 << 22),
                parse_options=self.options[0],
                convert_options=self.options[1],
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        if table.num_rows != len(ends):
            return None
        columns = {field: table.column(name).combine_chunks() for field, name in self.fields.items()}
        plain, events = self._events(columns, len(ends), line)
        items: list[TripEvent | BadRow | Block] = []
        for index in np.flatnonzero(~plain).tolist():  # every other row by the exact path, in line order
            begin = int(ends[index - 1]) + 1 if index else 0
            row = next(csv.reader([chunk[begin : int(ends[index]) + 1].decode("utf-8")]))
            found = row_items(self.layout, row, f"{self.source}#{line + index}", self.plausible)
            if isinstance(found, BadRow):
                items.append(found)
            else:
                items += found
        last = f"{self.source}#{line + len(ends) - 1}"
        items.append(Block(events, int(np.count_nonzero(plain)), last))
        return items

    def _events(self, columns: dict[str, Any], n: int, line: int) -> tuple[Any, pa.Table]:
        """(which rows are plain, the records of their events)."""
        plain = np.ones(n, bool)
        start_local, ok = local_times(columns["start_time"])
        plain &= ok
        end_local, ok = local_times(columns["end_time"])
        plain &= ok
        start_utc, ok = new_york_to_utc(start_local)
        plain &= ok
        end_utc, ok = new_york_to_utc(end_local)
        plain &= ok & (end_utc >= start_utc)
        for moments in (start_utc, end_utc):
            plain &= moments >= self.earliest
            if self.latest is not None:
                plain &= moments <= self.latest
        strings: dict[str, Any] = {}
        for field in ("start_id", "start_name", "end_id", "end_name", "bike_id", "ride_id", "rideable_type"):
            if field in columns:
                limit = {"start_id": limits.STATION_ID_MAX, "end_id": limits.STATION_ID_MAX}.get(field)
                if field.endswith("_name"):
                    limit = limits.STATION_NAME_MAX
                values, ok = string_values(columns[field], station=limit is not None, limit=limit)
                plain &= ok
                strings[field] = values
        coordinates: dict[str, Any] = {}
        for field in ("start_lat", "start_lon", "end_lat", "end_lon"):
            if field in columns:
                values, ok = coordinate_values(columns[field])
                plain &= ok
                coordinates[field] = values
        rows = np.flatnonzero(plain)
        if not len(rows):
            return plain, SCHEMA.empty_table()
        if len(rows) < n:  # the plain rows only (a chunk whose rows are all plain, the usual one, as it is)
            take = arrow(rows)
            strings = {field: values.take(take) for field, values in strings.items()}
            trip = self._trip_ids(columns["start_time"].take(take), strings)
        else:
            trip = self._trip_ids(columns["start_time"], strings)
        lines = pc.cast(arrow(rows + line), pa.string())
        source = pc.binary_join_element_wise(self.source_json.decode(), lines, '"', "")
        records: list[pa.Table] = []
        for kind, times in (("start", start_utc), ("end", end_utc)):
            moments = times[rows] if len(rows) < n else times
            keep = np.ones(len(rows), bool)
            if self.start_us is not None:
                keep &= moments >= self.start_us
            if self.until_us is not None:
                keep &= moments < self.until_us
            if not keep.any():
                continue
            chosen = None if keep.all() else arrow(np.flatnonzero(keep))

            def kept(values: Any, chosen: Any = chosen) -> Any:
                return values if chosen is None else values.take(chosen)

            records.append(
                self._records(
                    kind,
                    moments[keep],
                    kept(trip),
                    {field: kept(values) for field, values in strings.items()},
                    {field: (values[rows] if len(rows) < n else values)[keep] for field, values in coordinates.items()},
                    kept(source),
                )
            )
        return plain, pa.concat_tables(records) if records else SCHEMA.empty_table()

    @staticmethod
    def _trip_ids(start_text: Any, strings: dict[str, Any]) -> Any:
        """`ride_id or f"bike:{bike_id}@{start_text}"` of the plain rows (a missing bike id reads None)."""
        ride = strings.get("ride_id")
        if ride is not None and ride.null_count == 0:
            return ride
        bike = strings.get("bike_id")
        bike = pc.fill_null(bike, "None") if bike is not None else "None"
        by_bike = pc.binary_join_element_wise("bike:", bike, "@", start_text, "")
        return by_bike if ride is None else pc.if_else(pc.is_null(ride), by_bike, ride)

    def _records(
        self,
        kind: str,
        moments: Any,
        trip: Any,
        strings: dict[str, Any],
        coordinates: dict[str, Any],
        source: Any,
    ) -> pa.Table:
        side = "start" if kind == "start" else "end"
        ids = event_ids(trip, f"/{kind}".encode())
        station = strings.get(f"{side}_id")
        name = strings.get(f"{side}_name")
        keys = (
            pc.cast(pc.fill_null(station, ""), pa.binary()) if station is not None else binaries([b""] * len(moments))
        )
        json = _Json('{"event_id":"')
        json.column(ids, '","trip_id":"')
        json.column(trip, f'","kind":"{kind}","event_time":"')
        json.column(iso_times(moments), 'Z","station_id":')
        json.string(station, ',"station_name":')
        json.string(name, ',"lat":')
        json.column(json_floats(coordinates.get(f"{side}_lat"), len(moments)), ',"lon":')
        json.column(json_floats(coordinates.get(f"{side}_lon"), len(moments)), ',"bike_id":')
        json.string(strings.get("bike_id"), ',"rideable_type":')
        json.string(strings.get("rideable_type"), ',"count":1,"source":')
        json.column(source, "}")
        payloads = json.joined(len(moments))
        return pa.Table.from_arrays(
            [arrow(moments, pa.int64()), ids, keys, pc.cast(payloads, pa.binary())], schema=SCHEMA
        )


class _Json:
    """The pieces of an event's JSON, joined by Arrow in one call: text between columns, as few pieces as the
    values allow. A string column without nulls goes in as it is, between quotes added to the text around
    it; one with nulls as `json_strings` (`"value"` or `null`); none at all as the text `null`."""

    def __init__(self, text: str) -> None:
        self.pieces: list[Any] = []
        self.text = text

    def column(self, values: Any, text: str) -> None:
        self.pieces += [self.text, values]
        self.text = text

    def string(self, values: Any, text: str) -> None:
        if values is None:
            self.text += "null" + text
        elif values.null_count == 0:
            self.text += '"'
            self.column(values, '"' + text)
        else:
            self.column(json_strings(values, len(values)), text)

    def joined(self, n: int) -> Any:
        if not self.pieces:
            return strings([self.text] * n)
        return pc.binary_join_element_wise(*self.pieces, self.text, "")


def _well_formed(chunk: bytes, raw: Any, ends: Any) -> bool:
    """Lines within the limit, UTF-8, `\r` only before `\n`, and every quote at a field's edge on its line."""
    if not len(ends) or int(np.diff(ends, prepend=-1).max()) > limits.MAX_LINE_BYTES:
        return False
    if not chunk.isascii():
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            return False
    returns = np.count_nonzero(raw == 13)
    if returns and returns != np.count_nonzero(raw[ends[ends > 0] - 1] == 13):
        return False
    return _quotes_on_their_lines(chunk, raw, ends)


def _quotes_on_their_lines(chunk: bytes, raw: Any = None, ends: Any = None) -> bool:
    """Every `"` opens a field (after `,` or a line start) or closes the one opened before it on the same line
    (before `,` or a line end): then the csv module reads each line alone as it reads them all, and is out of
    any quoted field at the end of the chunk."""
    if b'"' not in chunk:
        return True
    raw = np.frombuffer(chunk, np.uint8) if raw is None else raw
    ends = np.flatnonzero(raw == 10) if ends is None else ends
    quotes = np.flatnonzero(raw == 34)
    if len(quotes) % 2:
        return False
    opens, closes = quotes[0::2], quotes[1::2]
    before = np.where(opens > 0, raw[np.maximum(opens - 1, 0)], 10)
    after = raw[np.minimum(closes + 1, len(raw) - 1)]
    after_return = raw[np.minimum(closes + 2, len(raw) - 1)]
    return bool(
        np.all((before == 44) | (before == 10))
        and np.all(closes + 1 < len(raw))
        and np.all((after == 44) | (after == 10) | ((after == 13) & (after_return == 10)))
        and np.array_equal(np.searchsorted(ends, opens), np.searchsorted(ends, closes))
    )
