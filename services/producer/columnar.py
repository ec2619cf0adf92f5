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
import hashlib
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from services.producer.arrays import arrow, binaries, bools, strings
from services.producer.documents import READ_BUFFER, prefixed
from services.producer.row_reader import Plausible, read_document, read_rest, row_items
from services.producer.spill import SCHEMA
from services.producer.trip_rows import _ALIASES, BadRow, Layout, _offsets
from shared import limits
from shared.events import _NAMESPACE_BYTES, TripEvent

BLOCK_BYTES = 4 * 1024 * 1024
"""bytes of whole lines parsed at once: large enough that per-chunk costs vanish, small enough for memory"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR_US = 3_600_000_000
_LOCAL_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - New York wall clock
_STRING_MISSING = strings(sorted(limits.STATION_ID_PLACEHOLDERS))
_COORDINATE_MISSING = strings(["NA", "N/A", "NAN", "NULL", "\\N"])  # trip_rows._MISSING
_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
_US_TIME = (
    r"^(?P<m>[0-9]{1,2})/(?P<d>[0-9]{1,2})/(?P<y>[0-9]{4}) (?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2}))?$"
)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
_digest = operator.methodcaller("digest")
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_ESCAPED = np.zeros(256, bool)
_ESCAPED[[*range(0x20), 0x22, 0x5C]] = True  # what msgspec escapes in a JSON string
_STATION_REFUSED = _ESCAPED.copy()
_STATION_REFUSED[[0x7F, 0xC2]] = True  # DEL, and the lead byte of U+0080-U+00BF (the C1 controls among them)
_SPACE_EDGE = np.zeros(256, bool)
_SPACE_EDGE[[*b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ", *range(0x80, 0x100)]] = True  # str.strip()'s, or maybe (non-ASCII)


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


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


class _Chunks:
    """Reads well-formed chunks of one document."""

    def __init__(
        self, source: str, layout: Layout, plausible: Plausible, start_us: int | None, until_us: int | None
    ) -> None:
        self.source, self.layout, self.plausible = source, layout, plausible
        self.names = [f"c{i}" for i in range(layout.width)]
        self.fields = {field: self.names[i] for field, i in zip(_ALIASES, layout.order, strict=True) if i is not None}
        self.earliest = _micros(plausible.earliest)
        self.latest = _micros(plausible.latest) if plausible.latest is not None else None
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
        start_local, ok = _local_times(columns["start_time"])
        plain &= ok
        end_local, ok = _local_times(columns["end_time"])
        plain &= ok
        start_utc, ok = _new_york_to_utc(start_local)
        plain &= ok
        end_utc, ok = _new_york_to_utc(end_local)
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
                values, ok = _string(columns[field], station=limit is not None, limit=limit)
                plain &= ok
                strings[field] = values
        coordinates: dict[str, Any] = {}
        for field in ("start_lat", "start_lon", "end_lat", "end_lon"):
            if field in columns:
                values, ok = _coordinate(columns[field])
                plain &= ok
                coordinates[field] = values
        rows = np.flatnonzero(plain)
        if not len(rows):
            return plain, SCHEMA.empty_table()
        take = arrow(rows)
        strings = {field: values.take(take) for field, values in strings.items()}
        trip = self._trip_ids(columns["start_time"].take(take), strings)
        lines = pc.cast(arrow(rows + line), pa.string())
        source = pc.binary_join_element_wise(self.source_json.decode(), lines, '"', "")
        records: list[pa.Table] = []
        for kind, times in (("start", start_utc), ("end", end_utc)):
            moments = times[rows]
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
                    {field: values[rows][keep] for field, values in coordinates.items()},
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
        ids = _event_ids(trip, f"/{kind}".encode())
        station = strings.get(f"{side}_id")
        name = strings.get(f"{side}_name")
        keys = (
            pc.cast(pc.fill_null(station, ""), pa.binary()) if station is not None else binaries([b""] * len(moments))
        )
        payloads = pc.binary_join_element_wise(
            '{"event_id":"',
            ids,
            '","trip_id":"',
            trip,
            f'","kind":"{kind}","event_time":"',
            _iso_times(moments),
            'Z","station_id":',
            _json_string(station, len(moments)),
            ',"station_name":',
            _json_string(name, len(moments)),
            ',"lat":',
            _json_floats(coordinates.get(f"{side}_lat"), len(moments)),
            ',"lon":',
            _json_floats(coordinates.get(f"{side}_lon"), len(moments)),
            ',"bike_id":',
            _json_string(strings.get("bike_id"), len(moments)),
            ',"rideable_type":',
            _json_string(strings.get("rideable_type"), len(moments)),
            ',"count":1,"source":',
            source,
            "}",
            "",
        )
        return pa.Table.from_arrays(
            [arrow(moments, pa.int64()), ids, keys, pc.cast(payloads, pa.binary())], schema=SCHEMA
        )


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


def _bytes_of(column: Any) -> tuple[Any, Any]:
    """(offsets relative to the data, data bytes) of a string array."""
    _, offsets, data = column.buffers()
    offsets = np.frombuffer(offsets, np.int32)[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets, data


def _rows_holding(offsets: Any, data: Any, refused: Any) -> Any:
    """Rows whose value holds a byte of the `refused` table."""
    at = np.flatnonzero(refused[data[offsets[0] : offsets[-1]]]) + offsets[0]
    hit = np.zeros(len(offsets) - 1, bool)
    hit[np.searchsorted(offsets, at, side="right") - 1] = True
    return hit


def _string(column: Any, station: bool, limit: int | None) -> tuple[Any, Any]:
    """(the value, null when empty or a placeholder id or name; whether the row's value is plain)."""
    offsets, data = _bytes_of(column)
    lengths = np.diff(offsets)
    filled = lengths > 0
    ok = ~_rows_holding(offsets, data, _STATION_REFUSED if station else _ESCAPED)
    if filled.any():
        firsts = data[offsets[:-1][filled]]
        lasts = data[offsets[1:][filled] - 1]
        ok[filled] &= ~(_SPACE_EDGE[firsts] | _SPACE_EDGE[lasts])
    missing = ~filled
    if station:
        ok &= lengths <= (limit or 0)  # bytes >= characters
        missing |= bools(pc.is_in(pc.ascii_lower(column), value_set=_STRING_MISSING))
    return pc.if_else(arrow(missing), pa.scalar(None, pa.string()), column), ok


def _coordinate(column: Any) -> tuple[Any, Any]:
    """(the number, NaN when missing; whether the row's value is plain)."""
    missing = pc.or_(pc.equal(pc.utf8_length(column), 0), pc.is_in(pc.ascii_upper(column), _COORDINATE_MISSING))
    decimal = pc.match_substring_regex(column, _DECIMAL)
    values = pc.cast(pc.if_else(decimal, column, "0"), pa.float64()).to_numpy()
    missing_np = bools(missing)
    values = np.where(missing_np, np.nan, values)
    return values, missing_np | bools(decimal)


def _local_times(column: Any) -> tuple[Any, Any]:
    """(New York wall-clock µs since 1970 as if UTC, whether the text is a plain valid time) per row:
    ISO `YYYY-MM-DD HH:MM:SS[.f{1,6}]` (space or T) as `datetime.fromisoformat`, or US
    `M/D/YYYY H:MM[:SS]` as `strptime`."""
    n = len(column)
    offsets, data = _bytes_of(column)
    lengths = np.diff(offsets)
    year, month, day, hour, minute, second, micro = (np.zeros(n, np.int64) for _ in range(7))
    ok = np.zeros(n, bool)
    for length in np.unique(lengths).tolist():
        if length != 19 and not 21 <= length <= 26:
            continue
        rows = np.flatnonzero(lengths == length)
        starts = offsets[:-1][rows]

        def char(position: int, starts: Any = starts) -> Any:
            return data[starts + position]  # one byte per row: no rows x length matrix (memory)

        def number(*positions: int, char: Any = char) -> Any:
            value = np.zeros_like(char(0), np.int64)
            for position in positions:
                value = value * 10 + char(position)
            return value - 48 * int("1" * len(positions))

        good = np.ones(len(rows), bool)
        for position in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, *range(20, length)):
            c = char(position)
            good &= (c >= 48) & (c <= 57)
        good &= (char(4) == 45) & (char(7) == 45) & ((char(10) == 32) | (char(10) == 84))
        good &= (char(13) == 58) & (char(16) == 58)
        if length > 19:
            good &= char(19) == 46
        year[rows] = number(0, 1, 2, 3)
        month[rows] = number(5, 6)
        day[rows] = number(8, 9)
        hour[rows] = number(11, 12)
        minute[rows] = number(14, 15)
        second[rows] = number(17, 18)
        fraction = number(*range(20, length)) * 10 ** (26 - length) if length > 19 else np.zeros(len(rows), np.int64)
        micro[rows] = fraction
        ok[rows] = good
    rest = np.flatnonzero(~ok & (lengths >= 12) & (lengths <= 19))
    if len(rest):
        found = pc.extract_regex(column.take(arrow(rest)), _US_TIME)
        matched = bools(found.is_valid())
        rest, found = rest[matched], found.filter(arrow(matched))
        if len(rest):
            for target, name in ((month, "m"), (day, "d"), (year, "y"), (hour, "H"), (minute, "M")):
                target[rest] = pc.cast(found.field(name), pa.int64()).to_numpy()
            seconds = found.field("S")
            target_seconds = pc.cast(pc.if_else(pc.equal(seconds, ""), "0", seconds), pa.int64())
            second[rest] = target_seconds.to_numpy()
            micro[rest] = 0
            ok[rest] = True
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days_in = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
    ok &= (year >= 1) & month_ok & (day >= 1) & (day <= days_in) & (hour <= 23) & (minute <= 59) & (second <= 59)
    days = _days_from_civil(np.where(ok, year, 1970), np.where(ok, month, 1), np.where(ok, day, 1))
    local = ((days * 24 + hour) * 60 + minute) * 60 + second
    return np.where(ok, local * 1_000_000 + micro, 0), ok


def _days_from_civil(year: Any, month: Any, day: Any) -> Any:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm), vectorised."""
    year = year - (month <= 2)
    era = year // 400
    of_era = year - era * 400
    of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    return era * 146097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719468


_HOURS: dict[int, tuple[int, bool]] = {}


def _new_york_to_utc(local: Any) -> tuple[Any, Any]:
    """(UTC µs, whether the wall-clock time names one instant) with `trip_rows`' own per-hour offsets; a
    time in the hour repeated in autumn or skipped in spring is left to the exact path."""
    hours, where = np.unique(local // _HOUR_US, return_inverse=True)
    first = np.empty(len(hours), np.int64)
    single = np.empty(len(hours), bool)
    for i, hour in enumerate(hours.tolist()):
        found = _HOURS.get(hour)
        if found is None:
            try:
                early, late = _offsets(_LOCAL_EPOCH + timedelta(hours=hour))
                found = (early // timedelta(microseconds=1), early == late)
            except OverflowError:
                found = (0, False)
            if len(_HOURS) < 1_000_000:  # about a century of hours, as trip_rows' own cache
                _HOURS[hour] = found
        first[i], single[i] = found
    return local - first[where], single[where]


def _event_ids(trip: Any, suffix: bytes) -> Any:
    """uuid5(EVENT_NAMESPACE, f"{trip_id}/{kind}") as text, for a column of trip ids (`events.event_id`)."""
    sha1 = hashlib.sha1
    names = pc.binary_join_element_wise(_NAMESPACE_BYTES, pc.cast(trip, pa.binary()), suffix, b"").to_pylist()
    digests = np.frombuffer(b"".join(map(_digest, map(sha1, names))), np.uint8).reshape(-1, 20)[:, :16]
    digests = digests.copy()
    digests[:, 6] = (digests[:, 6] & 0x0F) | 0x50  # version 5
    digests[:, 8] = (digests[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = np.empty((len(digests), 32), np.uint8)
    hexed[:, 0::2] = _HEX[digests >> 4]
    hexed[:, 1::2] = _HEX[digests & 0x0F]
    text = np.full((len(digests), 36), 45, np.uint8)  # "-"
    for begin, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + end - begin] = hexed[:, begin:end]
    ids = pa.FixedSizeBinaryArray.from_buffers(pa.binary(36), len(text), [None, pa.py_buffer(text.tobytes())])
    return pc.cast(pc.cast(ids, pa.binary()), pa.string())


def _iso_times(moments: Any) -> Any:
    """msgspec's text of UTC times, without the `Z`: `YYYY-MM-DDTHH:MM:SS`, `.ffffff` when not whole seconds."""
    text = pc.cast(arrow(moments, pa.timestamp("us")), pa.string())  # "YYYY-MM-DD HH:MM:SS.ffffff"
    text = pc.utf8_replace_slice(text, 10, 11, "T")
    whole = arrow(moments % 1_000_000 == 0)
    return pc.if_else(whole, pc.utf8_slice_codeunits(text, 0, 19), text)


def _json_string(values: Any, n: int) -> Any:
    """JSON of strings that need no escaping (checked per row), `null` for missing."""
    if values is None:
        return strings(["null"] * n)
    return pc.fill_null(pc.binary_join_element_wise('"', values, '"', ""), "null")


def _json_floats(values: Any, n: int) -> Any:
    """msgspec's own text of each number (`null` for NaN)."""
    if values is None:
        return strings(["null"] * n)
    return binaries(msgspec.json.encode(values.tolist())[1:-1].split(b","), pa.string())
