"""Spark column expressions that compute exactly what `services.producer.trip_rows` computes in Python.

Each function mirrors one rule of the producer, so the Parquet path and the CSV path give the same
`TripEvent`s (a test compares them on every real sample file):

* text fields are stripped, and empty means missing (`Layout.get`);
* New York wall-clock times become UTC; an ambiguous autumn time is read as its first pass (fold=0),
  a spring-gap time is moved forward (zoneinfo and java.time agree on the instant), and an end
  before its start is retried as the second pass (fold=1);
* the trip id is `ride_id`, or `bike:<bike id>@<start time text>` before 2021;
* `event_id` is uuid5(EVENT_NAMESPACE, "<trip id>/<kind>"), computed with Spark's sha1, not a UDF.

All functions are pure column builders: no session is needed until an action runs.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from shared.events import EVENT_NAMESPACE

NEW_YORK = "America/New_York"
MISSING = ("NA", "N/A", "NAN", "NULL", "\\N")  # as services.producer.trip_rows._MISSING
US_FORMATS = ("M/d/yyyy H:mm:ss", "M/d/yyyy H:mm")  # strptime's %m/%d/%Y %H:%M:%S and %H:%M
EVENT_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
"""How event times are stored (UTC, fixed width, so text order is time order); msgspec reads it back."""


def stripped(column: Column) -> Column:
    """`str.strip()` then empty -> null; (?U) makes \\s Unicode-aware like Python's strip."""
    text = F.regexp_replace(column, r"(?U)^\s+|\s+$", "")
    return F.when(text != "", text)


def local_time(text: Column) -> Column:
    """Wall-clock text as a TIMESTAMP whose UTC reading is that wall clock (the session zone is UTC).

    ISO forms first (`fromisoformat`), then the US forms of the 2014-2016 files, as the producer tries them."""
    return F.coalesce(text.try_cast("timestamp"), *(F.try_to_timestamp(text, F.lit(fmt)) for fmt in US_FORMATS))


def new_york_to_utc(local: Column) -> Column:
    """fold=0: java.time takes the earlier offset in an overlap and shifts a gap forward, as zoneinfo does."""
    return F.to_utc_timestamp(local, NEW_YORK)


def new_york_to_utc_second_pass(local: Column) -> Column:
    """fold=1: one hour later is unambiguous, so convert that and step back an hour."""
    hour = F.expr("INTERVAL 1 HOUR")
    return F.to_utc_timestamp(local + hour, NEW_YORK) - hour


def trip_end(start_utc: Column, end_local: Column) -> Column:
    """The end time, retried as the repeated hour's second pass when it falls before the start."""
    first = new_york_to_utc(end_local)
    return F.when(first < start_utc, F.greatest(first, new_york_to_utc_second_pass(end_local))).otherwise(first)


def coordinate(text: Column) -> Column:
    """Missing markers and 0 -> null; otherwise the number (null here + text present = unparseable)."""
    value = F.when(~F.upper(text).isin(*MISSING), text.try_cast("double"))
    return F.when(value != 0.0, value)


def coordinate_unparseable(text: Column) -> Column:
    return text.isNotNull() & ~F.upper(text).isin(*MISSING) & text.try_cast("double").isNull()


def trip_id(ride_id: Column, bike_id: Column, start_text: Column) -> Column:
    # f"bike:{bike_id}@..." prints a missing bike id as "None"; keep that so the ids agree.
    legacy = F.concat(F.lit("bike:"), F.coalesce(bike_id, F.lit("None")), F.lit("@"), start_text)
    return F.coalesce(ride_id, legacy)


def uuid5(name: Column) -> Column:
    """uuid.uuid5(EVENT_NAMESPACE, name): SHA-1 of namespace bytes + UTF-8 name, version and variant bits set."""
    digest = F.sha1(F.concat(F.unhex(F.lit(EVENT_NAMESPACE.hex)), F.encode(name, "UTF-8")))
    variant_nibble = F.conv(F.substring(digest, 17, 1), 16, 10).cast("int")
    variant = F.lower(F.hex(variant_nibble.bitwiseAND(3).bitwiseOR(8)))
    return F.concat_ws(
        "-",
        F.substring(digest, 1, 8),
        F.substring(digest, 9, 4),
        F.concat(F.lit("5"), F.substring(digest, 14, 3)),
        F.concat(variant, F.substring(digest, 18, 3)),
        F.substring(digest, 21, 12),
    )


def event_time_text(utc: Column) -> Column:
    return F.date_format(utc, EVENT_TIME_FORMAT)


def python_repr(text: Column) -> Column:
    """repr() of a plain string, for reasons worded as the producer words them."""
    return F.concat(F.lit("'"), text, F.lit("'"))
