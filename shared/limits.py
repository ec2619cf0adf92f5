"""The explicit limits every boundary checks (producer rows, enricher events, sink records).

One place for the numbers, so the producer, the enricher and the sink refuse the same things. A value
outside these limits is never truncated or repaired silently: the record is dead-lettered (or, in the
sink, quarantined) with a reason that names the field and the limit.
"""

from __future__ import annotations

import re
import unicodedata
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

EARLIEST_EVENT_TIME: Final = datetime(2013, 5, 1, tzinfo=UTC)
"""Citi Bike opened on 2013-05-27; the first trip files start then."""
MAX_FUTURE: Final = timedelta(days=1)
"""How far past the wall clock an event may lie (clock skew, time zones); a trip dated 2099 is refused."""

LAT_RANGE: Final = (-90.0, 90.0)
LON_RANGE: Final = (-180.0, 180.0)

MESSAGE_MAX_BYTES: Final = 1_000_000
"""Kafka's default max.message.bytes (and aiokafka's max_request_size): no record may exceed it."""
DEAD_LETTER_PAYLOAD_MAX: Final = 16_384
"""Characters of the original payload a dead letter keeps (the rest is cut and marked); with the
reason's limit below a dead letter stays far under `MESSAGE_MAX_BYTES` even at 4 bytes a character."""
DEAD_LETTER_REASON_MAX: Final = 1_000
LINE_MAX_BYTES: Final = 64 * 1024
"""Longest trip-file line the producer reads (real lines are under 400 bytes); a longer one is
dead-lettered, its start kept, and skipped without being held in memory. No field can be longer."""
TRUNCATION_MARK: Final = "…[truncated]"


def bad_text(text: str) -> str | None:
    """Why `text` may not be stored, or None: control characters (NUL, tabs, newlines, escapes) and
    lone surrogates are refused, since Postgres rejects NUL and the others corrupt logs and the map."""
    for char in text:
        if char < " " or "\x7f" <= char <= "\x9f" or "\ud800" <= char <= "\udfff":
            return f"control character U+{ord(char):04X} at position {text.index(char)}"
    if not text.isprintable() and any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in text):
        return "unprintable characters"
    return None


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (marked when cut): for payloads and reasons kept as evidence."""
    return text if len(text) <= limit else text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


def latest_event_time(now: datetime | None = None, future: timedelta = MAX_FUTURE) -> datetime:
    return (now or datetime.now(UTC)) + future
