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

    def get(self, row: Sequence[str], field: str) -> str | None:
        i = self.columns.get(field)
        value = row[i].strip() if i is not None else ""
        return value or None


_OFFSETS: dict[tuple[int, int, int, int, int], timedelta] = {}


def _new_york_to_utc(local: datetime, fold: int) -> datetime:
    """`local.replace(tzinfo=NEW_YORK, fold=fold).astimezone(UTC)`, a few times faster: New York's offset
    only changes on an hour boundary, so it is looked up once per (local hour, fold) and cached."""
    key = (local.year, local.month, local.day, local.hour, fold)
    offset = _OFFSETS.get(key)
    if offset is None:
        offset = local.replace(tzinfo=NEW_YORK, fold=fold).utcoffset() or timedelta(0)
        if len(_OFFSETS) < 1_000_000:  # about a century of hours; bounded whatever the input
            _OFFSETS[key] = offset
    return (local - offset).replace(tzinfo=UTC)


def parse_time(text: str | None, fold: int = 0) -> datetime:
    """New York wall-clock text as UTC; `fold=1` picks the second pass of the hour repeated in autumn."""
    if not text:
        raise RowError("missing time")
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _US_FORMATS:
            try:
                local = datetime.strptime(text, fmt)  # noqa: DTZ007 - local NYC time, zone added below
                break
            except ValueError:
                continue
        else:
            raise RowError(f"unparseable time {text!r}") from None
    try:
        if local.tzinfo is not None:  # an explicit offset is honoured, never replaced by New York's
            return local.astimezone(UTC)
        return _new_york_to_utc(local, fold)
    except OverflowError:  # e.g. 9999-12-31 23:00 New York is past datetime.max in UTC
        raise RowError(f"time {text!r} is out of range") from None


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
    start, end = parse_time(start_text), parse_time(end_text)
    starts = {start, parse_time(start_text, fold=1)}
    ends = {end, parse_time(end_text, fold=1)}
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
    get = layout.get
    start, end = trip_times(get(row, "start_time"), get(row, "end_time"), _duration(get(row, "duration")))
    if end < start:
        raise RowError(f"ends before it starts ({get(row, 'end_time')} < {get(row, 'start_time')})")
    bike_id = get(row, "bike_id")
    trip_id = get(row, "ride_id") or f"bike:{bike_id}@{get(row, 'start_time')}"
    rideable_type = get(row, "rideable_type")
    return (
        TripEvent(
            event_id=event_id(trip_id, EventKind.START),
            kind=EventKind.START,
            event_time=start,
            station_id=get(row, "start_id"),
            station_name=get(row, "start_name"),
            lat=_coordinate(get(row, "start_lat")),
            lon=_coordinate(get(row, "start_lon")),
            trip_id=trip_id,
            bike_id=bike_id,
            rideable_type=rideable_type,
            source=source,
        ),
        TripEvent(
            event_id=event_id(trip_id, EventKind.END),
            kind=EventKind.END,
            event_time=end,
            station_id=get(row, "end_id"),
            station_name=get(row, "end_name"),
            lat=_coordinate(get(row, "end_lat")),
            lon=_coordinate(get(row, "end_lon")),
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
