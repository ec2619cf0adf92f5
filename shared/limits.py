"""Explicit limits on what the pipeline accepts from trip files and topics, in one place.

The producer checks rows against them before publishing; the enricher and the sink check the same
limits on what they receive, so a value one stage accepts is never refused (or crashes) further on.
Every function returns the reason a value is refused, or None when it is acceptable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

MAX_STATION_ID_CHARS: Final = 64
"""Longest station id: real ids are at most 10 characters (`JC115`, `6140.05`, legacy `3255`)."""

MAX_STATION_NAME_CHARS: Final = 200
"""Longest station name: the longest real name is under 60 characters."""

MAX_LINE_BYTES: Final = 64 * 1024
"""Longest CSV line the producer reads; a longer one is dead-lettered (cut) and skipped.
Real trip lines are under 400 bytes. It is also the csv module's field limit (a field can't be longer)."""

MAX_DEAD_LETTER_PAYLOAD_CHARS: Final = 8 * 1024
"""A dead letter keeps at most this much of the original record, well under Kafka's 1 MB message limit."""

PLAUSIBLE_FROM: Final = datetime(2013, 1, 1, tzinfo=UTC)
"""Earliest plausible event time (Citi Bike opened in May 2013)."""

PLAUSIBLE_AHEAD: Final = timedelta(days=1)
"""How far past the present an event time may lie (clock skew, time zones) before it is implausible."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def plausible_until(now: datetime | None = None) -> datetime:
    """The latest plausible event time: now plus `PLAUSIBLE_AHEAD`."""
    return (now or datetime.now(UTC)) + PLAUSIBLE_AHEAD


def text_problem(value: str, what: str, max_chars: int) -> str | None:
    """Why `value` (a station id or name) is refused: too long, or holding NUL/control characters."""
    if len(value) > max_chars:
        return f"{what} is {len(value)} characters long (limit {max_chars})"
    if not value.isprintable() and (found := _CONTROL.search(value)):
        return f"{what} holds control character U+{ord(found.group()):04X}"
    return None


def station_id_problem(value: str) -> str | None:
    return text_problem(value, "station id", MAX_STATION_ID_CHARS)


def station_name_problem(value: str) -> str | None:
    return text_problem(value, "station name", MAX_STATION_NAME_CHARS)


def time_problem(value: datetime, earliest: datetime = PLAUSIBLE_FROM, latest: datetime | None = None) -> str | None:
    """Why an (aware) event time is implausible, or None."""
    latest = latest or plausible_until()
    if value < earliest:
        return f"time {value.isoformat()} is before {earliest.isoformat()}"
    if value > latest:
        return f"time {value.isoformat()} is after {latest.isoformat()}"
    return None


def truncate_payload(payload: str, limit: int = MAX_DEAD_LETTER_PAYLOAD_CHARS) -> str:
    """The payload cut to `limit` characters, saying how long it was, so a dead letter always fits in Kafka."""
    if len(payload) <= limit:
        return payload
    return payload[:limit] + f"...[truncated, {len(payload)} characters in all]"
