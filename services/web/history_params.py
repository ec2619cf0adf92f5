"""Validation of the history API's query parameters: every value is parsed here, with explicit bounds,
or rejected with a `BadParameter` whose message names the parameter and what is allowed (the API
answers it as a 400). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.web.security import BadParameter, parse_moment

__all__ = [
    "AUTO_POINTS",
    "DEFAULT_STATION_SPAN",
    "MAX_POINTS",
    "MAX_STATION_SPAN",
    "STEPS",
    "BadParameter",
    "Range",
    "parse_range",
    "parse_station_id",
    "parse_step",
    "parse_time",
]

STATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# Frequency buckets: name -> seconds. 15 min and 1 h buckets fall on New York boundaries because New
# York's UTC offset is a whole number of hours; days are cut at New York midnight.
STEPS = {"1m": 60, "15m": 900, "1h": 3600, "1d": 86400}
MAX_POINTS = 5000  # frequency buckets per answer
AUTO_POINTS = 1500  # the default step is the finest that stays under this many buckets
MAX_STATION_SPAN = timedelta(days=31)
DEFAULT_STATION_SPAN = timedelta(hours=24)


def parse_time(raw: str | None, name: str, *, now: datetime | None = None) -> datetime | None:
    """A moment by the web's one rule for times (`security.parse_moment`: ISO 8601 with a UTC offset,
    between 2013 and a day past now); None if absent."""
    if raw is None or raw == "":
        return None
    return parse_moment(name, raw, now)


def parse_station_id(raw: str) -> str:
    if not STATION_ID.fullmatch(raw):
        raise BadParameter("station id: 1-64 characters of letters, digits, '.', '_' or '-'")
    return raw


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime


def parse_range(
    raw_from: str | None, raw_to: str | None, *, default: Range, max_span: timedelta | None = None
) -> Range:
    """`from`/`to` with the defaults filled in; `from` must be before `to` and the span within `max_span`."""
    start = parse_time(raw_from, "from")
    end = parse_time(raw_to, "to")
    if start is None and end is None:
        start, end = default.start, default.end
    elif start is None:
        assert end is not None
        start = end - (default.end - default.start)
    elif end is None:
        end = start + (default.end - default.start)
    if start >= end:
        raise BadParameter(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    if max_span is not None and end - start > max_span:
        raise BadParameter(f"from..to spans more than {max_span.days} days; ask for a shorter range")
    return Range(start, end)


def parse_step(raw: str | None, span: Range) -> str:
    """A step name from STEPS; absent, the finest step that gives at most AUTO_POINTS buckets."""
    seconds = (span.end - span.start).total_seconds()
    if raw is None or raw == "":
        for name, size in STEPS.items():
            if seconds / size <= AUTO_POINTS:
                return name
        return "1d"
    if raw not in STEPS:
        raise BadParameter(f"step: {raw[:20]!r} is not one of {', '.join(STEPS)}")
    if seconds / STEPS[raw] > MAX_POINTS:
        raise BadParameter(f"step: {raw} over this range gives more than {MAX_POINTS} points; use a larger step")
    return raw
