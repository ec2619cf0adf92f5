"""The explicit limits every boundary checks (producer rows, enricher events, sink records).

One place for the numbers, so the producer, the enricher and the sink refuse the same things. A value
outside these limits is never truncated or repaired silently: the record is dead-lettered (or, in the
sink, quarantined) with a reason that names the field and the limit.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

STATION_ID_MAX: Final = 32
"""Real ids are GBFS short names ("6170.02"), legacy integers ("72") or Jersey City codes ("JC008")."""
STATION_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")
"""Letters, digits, space, dot, underscore and hyphen (full match, after canonicalisation, which strips
the ends): real files hold ids such as "Shop Morgan" for depots."""
STATION_ID_PLACEHOLDERS: Final = frozenset({"null", "none", "nan", "n/a", "na", "undefined", "\\n"})
"""Spellings of "no value" that exports write into id columns: never a station called NULL."""
STATION_NAME_MAX: Final = 100
"""The longest real name in the catalogue and the trip files is 45 characters."""

TRIP_ID_MAX: Final = 128
BIKE_ID_MAX: Final = 64
RIDEABLE_TYPE_MAX: Final = 32
SOURCE_MAX: Final = 1024
"""s3://bucket/key#row: S3 keys are at most 1,024 bytes."""
COUNT_MAX: Final = 10_000
"""Bikes one event may move (opening stock of the largest station is a few hundred)."""

EARLIEST_EVENT_TIME: Final = datetime(2013, 1, 1, tzinfo=UTC)
"""Citi Bike opened on 2013-05-27; nothing earlier is a real trip."""
MAX_FUTURE: Final = timedelta(days=1)
"""How far past the wall clock an event may lie (clock skew, time zones); a trip dated 2099 is refused."""

LAT_RANGE: Final = (-90.0, 90.0)
LON_RANGE: Final = (-180.0, 180.0)

MESSAGE_MAX_BYTES: Final = 1_000_000
"""Kafka's default max.message.bytes (and aiokafka's max_request_size): no record may exceed it."""
FRAME_EVENTS_DEFAULT: Final = 500
"""Events per frame (`shared.frames`) unless a service's `frame_events` setting says otherwise."""
FRAME_BYTES_DEFAULT: Final = 256 * 1024
"""Bytes per frame: a quarter of `MESSAGE_MAX_BYTES`, so a frame always fits a record and a fetch."""
FRAME_EVENTS_MAX: Final = 10_000
"""A record holding more events than this is refused whole (dead letter or quarantine)."""
DEAD_LETTER_PAYLOAD_MAX: Final = 16_384
"""Characters of the original payload a dead letter keeps (the rest is cut and marked); with the
reason's limit below a dead letter stays far under `MESSAGE_MAX_BYTES` even at 4 bytes a character."""
DEAD_LETTER_REASON_MAX: Final = 1_000
TRUNCATION_MARK: Final = "…[truncated]"


_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def bad_text(text: str) -> str | None:
    """Why `text` may not be stored, or None: control characters (NUL, tabs, newlines, escapes; C0 and
    C1) and lone surrogates are refused, since Postgres rejects NUL and the others corrupt logs and the map."""
    if found := _REFUSED.search(text):
        return f"control character U+{ord(found.group()):04X} at position {found.start()}"
    return None


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (marked when cut): for payloads and reasons kept as evidence."""
    return text if len(text) <= limit else text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


def latest_event_time(now: datetime | None = None, future: timedelta = MAX_FUTURE) -> datetime:
    return (now or datetime.now(UTC)) + future


# The producer's names for the same limits (one set of numbers for every stage).
MAX_STATION_ID_CHARS: Final = STATION_ID_MAX
MAX_STATION_NAME_CHARS: Final = STATION_NAME_MAX
MAX_LINE_BYTES: Final = 64 * 1024
"""Longest CSV line the producer reads; a longer one is dead-lettered (cut) and skipped.
Real trip lines are under 400 bytes. It is also the csv module's field limit (a field can't be longer)."""
MAX_DEAD_LETTER_PAYLOAD_CHARS: Final = DEAD_LETTER_PAYLOAD_MAX
PLAUSIBLE_FROM: Final = EARLIEST_EVENT_TIME
PLAUSIBLE_AHEAD: Final = MAX_FUTURE

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def plausible_until(now: datetime | None = None) -> datetime:
    """The latest plausible event time: now plus `PLAUSIBLE_AHEAD`."""
    return latest_event_time(now, PLAUSIBLE_AHEAD)


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
