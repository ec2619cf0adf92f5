"""Trip rows of every Citi Bike format era, turned into start and end `TripEvent`s (pure functions).

Headers differ by era (`starttime`/`Start Time`/`started_at`, `bikeid`/`Bike ID`, `start station
latitude`/`start_lat` ...); they are matched after lower-casing and removing spaces and underscores.
Times are New York local time and become UTC. Trips without a `ride_id` (before 2021) get a trip id
from bike id and start time, which no two trips share.

Bad rows raise `RowError` with the reason; the caller dead-letters them and carries on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from shared.events import EventKind, TripEvent, event_id

NEW_YORK = ZoneInfo("America/New_York")

_ALIASES: dict[str, tuple[str, ...]] = {
    "start_time": ("starttime", "startedat"),
    "end_time": ("stoptime", "endedat"),
    "start_id": ("startstationid",),
    "start_name": ("startstationname",),
    "start_lat": ("startstationlatitude", "startlat"),
    "start_lon": ("startstationlongitude", "startlng"),
    "end_id": ("endstationid",),
    "end_name": ("endstationname",),
    "end_lat": ("endstationlatitude", "endlat"),
    "end_lon": ("endstationlongitude", "endlng"),
    "bike_id": ("bikeid",),
    "ride_id": ("rideid",),
    "rideable_type": ("rideabletype",),
    "duration": ("tripduration",),
}
_REQUIRED = ("start_time", "end_time")
_MISSING = frozenset({"NA", "N/A", "NAN", "NULL", "\\N"})
_US_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")


class FormatError(ValueError):
    """The file's header is not one of the Citi Bike trip formats."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class RowError(ValueError):
    """One row cannot become events; the message says why."""


def _norm(name: str) -> str:
    return name.strip().strip('"').lower().replace(" ", "").replace("_", "")


@dataclass(frozen=True)
class Layout:
    """Column positions of one file's header."""

    columns: dict[str, int]
    width: int

    @classmethod
    def from_header(cls, header: Sequence[str], source: str) -> Layout:
        index = {_norm(name): i for i, name in enumerate(header)}
        columns = {field: index[a] for field, aliases in _ALIASES.items() for a in aliases if a in index}
        missing = [f for f in _REQUIRED if f not in columns]
        if missing or not ({"start_id", "start_lat"} & columns.keys()):
            raise FormatError(source, f"not a Citi Bike trip file (header {list(header)[:6]}...)")
        return cls(columns, len(header))

    @cached_property
    def order(self) -> tuple[int | None, ...]:
        """The column of each field of `_ALIASES`, in its order (None: not in this file)."""
        return tuple(self.columns.get(field) for field in _ALIASES)

    def values(self, row: Sequence[str]) -> list[str | None]:
        """Every field of `_ALIASES` of one row, in its order, stripped (None: missing or empty)."""
        return [(row[i].strip() or None) if i is not None else None for i in self.order]

    def get(self, row: Sequence[str], field: str) -> str | None:
        i = self.columns.get(field)
        value = row[i].strip() if i is not None else ""
        return value or None


_OFFSETS: dict[tuple[int, int, int, int], tuple[timedelta, timedelta]] = {}


def _offsets(local: datetime) -> tuple[timedelta, timedelta]:
    """New York's UTC offsets of a wall-clock time read in the first (fold 0) and second (fold 1) pass:
    equal except in the hour repeated in autumn and the hour skipped in spring. The offset only changes
    on an hour boundary, so it is looked up in zoneinfo once per local hour and cached."""
    key = (local.year, local.month, local.day, local.hour)
    found = _OFFSETS.get(key)
    if found is None:
        found = (
            local.replace(tzinfo=NEW_YORK, fold=0).utcoffset() or timedelta(0),
            local.replace(tzinfo=NEW_YORK, fold=1).utcoffset() or timedelta(0),
        )
        if len(_OFFSETS) < 1_000_000:  # about a century of hours; bounded whatever the input
            _OFFSETS[key] = found
    return found


def _local_time(text: str | None) -> datetime:
    """The time a text names: naive (New York wall clock), or aware when the text carries an offset."""
    if not text:
        raise RowError("missing time")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        for fmt in _US_FORMATS:
            try:
                return datetime.strptime(text, fmt)  # noqa: DTZ007 - local NYC time, zone added by the caller
            except ValueError:
                continue
        raise RowError(f"unparseable time {text!r}") from None


def _readings(text: str | None) -> tuple[datetime, datetime]:
    """The UTC instants a New York wall-clock text names in the first and the second pass (the same
    object twice when the time is not ambiguous); an explicit offset is honoured, never replaced."""
    local = _local_time(text)
    try:
        if local.tzinfo is not None:
            moment = local.astimezone(UTC)
            return moment, moment
        first, second = _offsets(local)
        early = (local - first).replace(tzinfo=UTC)
        return early, early if second == first else (local - second).replace(tzinfo=UTC)
    except OverflowError:  # e.g. 9999-12-31 23:00 New York is past datetime.max in UTC
        raise RowError(f"time {text!r} is out of range") from None


def parse_time(text: str | None, fold: int = 0) -> datetime:
    """New York wall-clock text as UTC; `fold=1` picks the second pass of the hour repeated in autumn."""
    return _readings(text)[fold]


def _coordinate(text: str | None) -> float | None:
    """The number as written (0.0 stays 0.0, so a dead letter can say so); None when missing."""
    if text is None or text.upper() in _MISSING:
        return None
    try:
        return float(text)
    except ValueError:
        raise RowError(f"unparseable coordinate {text!r}") from None


def _duration(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def trip_times(start_text: str | None, end_text: str | None, duration_s: float | None) -> tuple[datetime, datetime]:
    """True UTC start and end of a trip whose times are New York wall-clock text.

    In the hour repeated in autumn (01:00-02:00 happens in EDT, then again in EST) a wall-clock time
    names two instants. Files before 2021 carry `tripduration` in seconds: of the readings of start and
    end, the one whose length is closest to it is the truth (01:20 EDT -> 01:40 EST is 80 minutes, not 20).
    Without a duration, an end that would come before its start is read in the second pass."""
    (start, start_late), (end, end_late) = _readings(start_text), _readings(end_text)
    if start is start_late and end is end_late:  # neither in a repeated or skipped hour: one reading
        return start, end
    starts = {start, start_late}
    ends = {end, end_late}
    if duration_s is not None and len(starts) * len(ends) > 1:
        readings = [(s, e) for s in sorted(starts) for e in sorted(ends) if e >= s]
        if readings:
            return min(readings, key=lambda r: abs((r[1] - r[0]).total_seconds() - duration_s))
    if end < start:
        end = max(ends)
    return start, end


def trip_events(layout: Layout, row: Sequence[str], source: str) -> tuple[TripEvent, TripEvent]:
    """The start and end events of one trip row; `source` is `s3://bucket/key#row`."""
    if len(row) != layout.width:
        raise RowError(f"{len(row)} fields, header has {layout.width}")
    (
        start_text,
        end_text,
        start_id,
        start_name,
        start_lat,
        start_lon,
        end_id,
        end_name,
        end_lat,
        end_lon,
        bike_id,
        ride_id,
        rideable_type,
        duration,
    ) = layout.values(row)  # one pass, in _ALIASES' order
    start, end = trip_times(start_text, end_text, _duration(duration))
    if end < start:
        raise RowError(f"ends before it starts ({end_text} < {start_text})")
    trip_id = ride_id or f"bike:{bike_id}@{start_text}"
    return (
        TripEvent(
            event_id=event_id(trip_id, EventKind.START),
            kind=EventKind.START,
            event_time=start,
            station_id=start_id,
            station_name=start_name,
            lat=_coordinate(start_lat),
            lon=_coordinate(start_lon),
            trip_id=trip_id,
            bike_id=bike_id,
            rideable_type=rideable_type,
            source=source,
        ),
        TripEvent(
            event_id=event_id(trip_id, EventKind.END),
            kind=EventKind.END,
            event_time=end,
            station_id=end_id,
            station_name=end_name,
            lat=_coordinate(end_lat),
            lon=_coordinate(end_lon),
            trip_id=trip_id,
            bike_id=bike_id,
            rideable_type=rideable_type,
            source=source,
        ),
    )


@dataclass(frozen=True)
class BadRow:
    source: str
    reason: str
    payload: str


def split_rows(rows: Iterator[list[str]], source: str) -> Iterator[TripEvent | BadRow]:
    """Events of every row of one CSV (header first), and a `BadRow` for each row that has none."""
    try:
        header = next(rows)
    except StopIteration:
        raise FormatError(source, "empty file") from None
    layout = Layout.from_header(header, source)
    for number, row in enumerate(rows, start=2):  # line numbers as a spreadsheet shows them
        if not row:
            continue
        where = f"{source}#{number}"
        try:
            yield from trip_events(layout, row, where)
        except (RowError, ValueError, OverflowError) as exc:
            yield BadRow(where, str(exc), ",".join(row))
