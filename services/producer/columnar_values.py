"""Column operations of the columnar reader (`columnar.py`): each takes Arrow columns of one chunk and gives
numpy or Arrow columns, with a mask of the rows whose value is plain (the others go to the exact path).

Every rule here is the row-by-row path's own, restated per column: `datetime.fromisoformat` and
`strptime` for the times, `trip_rows`' per-hour New York offsets, `str.strip`, the limits and the
placeholders of `row_reader.checked`, and msgspec's JSON for strings (what it escapes), floats (its own
text of each number) and UTC times.
"""

from __future__ import annotations

import hashlib
import operator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.producer.arrays import arrow, binaries, bools, strings
from services.producer.trip_rows import _offsets
from shared import limits
from shared.events import _NAMESPACE_BYTES

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
_HEX_PAIRS = np.frombuffer("".join(f"{byte:02x}" for byte in range(256)).encode(), np.uint16)
"""each byte's two hex digits, as the uint16 holding them in memory order"""
_ESCAPED = np.zeros(256, bool)
_ESCAPED[[*range(0x20), 0x22, 0x5C]] = True  # what msgspec escapes in a JSON string
_STATION_REFUSED = _ESCAPED.copy()
_STATION_REFUSED[[0x7F, 0xC2]] = True  # DEL, and the lead byte of U+0080-U+00BF (the C1 controls among them)
_SPACE_EDGE = np.zeros(256, bool)
_SPACE_EDGE[[*b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ", *range(0x80, 0x100)]] = True  # str.strip()'s, or maybe (non-ASCII)


def micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _bytes_of(column: Any) -> tuple[Any, Any]:
    """(offsets relative to the data, data bytes) of a string array."""
    _, offsets, data = column.buffers()
    offsets = np.frombuffer(offsets, np.int32)[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets, data


def _rows_holding(offsets: Any, data: Any, refused: Any) -> Any:
    """Rows whose value holds a byte of the `refused` table."""
    at = np.flatnonzero(np.take(refused, data[offsets[0] : offsets[-1]])) + offsets[0]  # take: 2x fancy indexing
    hit = np.zeros(len(offsets) - 1, bool)
    hit[np.searchsorted(offsets, at, side="right") - 1] = True
    return hit


def string_values(column: Any, station: bool, limit: int | None) -> tuple[Any, Any]:
    """(the value, null when empty or a placeholder id or name; whether the row's value is plain)."""
    offsets, data = _bytes_of(column)
    lengths = np.diff(offsets)
    filled = lengths > 0
    ok = ~_rows_holding(offsets, data, _STATION_REFUSED if station else _ESCAPED)
    if filled.any():
        firsts = data[offsets[:-1][filled]]
        lasts = data[offsets[1:][filled] - 1]
        ok[filled] &= ~(np.take(_SPACE_EDGE, firsts) | np.take(_SPACE_EDGE, lasts))
    missing = ~filled
    if station:
        ok &= lengths <= (limit or 0)  # bytes >= characters
        missing |= bools(pc.is_in(pc.ascii_lower(column), value_set=_STRING_MISSING))
    return pc.if_else(arrow(missing), pa.scalar(None, pa.string()), column), ok


def coordinate_values(column: Any) -> tuple[Any, Any]:
    """(the number, NaN when missing; whether the row's value is plain)."""
    missing = pc.or_(pc.equal(pc.utf8_length(column), 0), pc.is_in(pc.ascii_upper(column), _COORDINATE_MISSING))
    decimal = pc.match_substring_regex(column, _DECIMAL)
    values = pc.cast(pc.if_else(decimal, column, "0"), pa.float64()).to_numpy()
    missing_np = bools(missing)
    values = np.where(missing_np, np.nan, values)
    return values, missing_np | bools(decimal)


def local_times(column: Any) -> tuple[Any, Any]:
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
        # every value of this length (the usual column): its bytes as a rows x length view, read by strides
        matrix = data[offsets[0] : offsets[-1]].reshape(n, length) if len(rows) == n else None

        def char(position: int, starts: Any = starts, matrix: Any = matrix) -> Any:
            if matrix is not None:
                return matrix[:, position]
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
    days_in = np.take(_DAYS_IN_MONTH, np.where(month_ok, month, 0)) + (leap & (month == 2))
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


def new_york_to_utc(local: Any) -> tuple[Any, Any]:
    """(UTC µs, whether the wall-clock time names one instant) with `trip_rows`' own per-hour offsets; a
    time in the hour repeated in autumn or skipped in spring is left to the exact path."""
    if not len(local):
        return local, np.zeros(0, bool)
    hour = local // _HOUR_US
    low, high = int(hour.min()), int(hour.max())
    if high - low < SPAN_HOURS:  # a chunk's few weeks: one table of every hour in them, indexed by the hour
        first, single = _per_hour(range(low, high + 1))
        at = hour - low
    else:  # a chunk with a time far from the others (a wrong year): only its distinct hours
        hours, at = _distinct(hour)
        first, single = _per_hour(hours.tolist())
    return local - np.take(first, at), np.take(single, at)


SPAN_HOURS = 24 * 92
"""the hours a chunk's times may span for a table of all of them, about three months (else its distinct hours)"""


def _per_hour(hours: Any) -> tuple[Any, Any]:
    """(UTC offset in µs, whether it is the only one) of each New York wall-clock hour (since 1970)."""
    first = np.empty(len(hours), np.int64)
    single = np.empty(len(hours), bool)
    for i, hour in enumerate(hours):
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
    return first, single


def event_ids(trip: Any, suffix: bytes) -> Any:
    """uuid5(EVENT_NAMESPACE, f"{trip_id}/{kind}") as text, for a column of trip ids (`events.event_id`)."""
    sha1 = hashlib.sha1
    names = pc.binary_join_element_wise(_NAMESPACE_BYTES, pc.cast(trip, pa.binary()), suffix, b"").to_pylist()
    digests = np.frombuffer(b"".join(map(_digest, map(sha1, names))), np.uint8).reshape(-1, 20)[:, :16]
    digests = digests.copy()
    digests[:, 6] = (digests[:, 6] & 0x0F) | 0x50  # version 5
    digests[:, 8] = (digests[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = np.take(_HEX_PAIRS, digests).view(np.uint8)  # (n, 32): one lookup per byte
    text = np.full((len(digests), 36), 45, np.uint8)  # "-"
    for begin, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + end - begin] = hexed[:, begin:end]
    ids = pa.FixedSizeBinaryArray.from_buffers(pa.binary(36), len(text), [None, pa.py_buffer(text.tobytes())])
    return pc.cast(pc.cast(ids, pa.binary()), pa.string())


def iso_times(moments: Any) -> Any:
    """msgspec's text of UTC times, without the `Z`: `YYYY-MM-DDTHH:MM:SS`, `.ffffff` when not whole seconds."""
    text = pc.cast(arrow(moments, pa.timestamp("us")), pa.string())  # "YYYY-MM-DD HH:MM:SS.ffffff"
    text = pc.utf8_replace_slice(text, 10, 11, "T")
    whole = arrow(moments % 1_000_000 == 0)
    return pc.if_else(whole, pc.utf8_slice_codeunits(text, 0, 19), text)


def json_strings(values: Any, n: int) -> Any:
    """JSON of strings that need no escaping (checked per row), `null` for missing."""
    if values is None:
        return strings(["null"] * n)
    return pc.fill_null(pc.binary_join_element_wise('"', values, '"', ""), "null")


def json_floats(values: Any, n: int) -> Any:
    """msgspec's own text of each number (`null` for NaN). Coordinates repeat (a station's, a chunk's few
    hundred stations), so each distinct value is encoded once: distinct by its bits (-0.0 is not 0.0)."""
    if values is None:
        return strings(["null"] * n)
    distinct, where = _distinct(values.view(np.int64))
    text = binaries(msgspec.json.encode(distinct.view(np.float64).tolist())[1:-1].split(b","), pa.string())
    return text.take(arrow(where))


def _distinct(values: Any) -> tuple[Any, Any]:
    """(the distinct int64 values, where each value is among them), by hashing (Arrow), not `np.unique`'s sort."""
    encoded = pc.dictionary_encode(arrow(values))
    return encoded.dictionary.to_numpy(), encoded.indices.to_numpy()
