"""Spark column expressions that compute exactly what `services.producer.trip_rows` computes in Python.

Each function mirrors one rule of the producer, so the Parquet path and the CSV path give the same
`TripEvent`s (a test compares them on every real sample file):

* text fields are stripped, and empty means missing (`Layout.get`);
* New York wall-clock times become UTC (an explicit offset is honoured); an ambiguous autumn time
  is read as its first pass (fold=0), a spring-gap time is moved forward (zoneinfo and java.time
  agree on the instant); when a start or end is ambiguous, the reading whose length is closest to
  `tripduration` wins (`trip_times`), and without one an end before its start takes its later reading;
* station ids and names spelled as missing values become null; `row_reader.checked`'s limits
  (id and name length, control characters, plausible times) reject the row;
* the trip id is `ride_id`, or `bike:<bike id>@<start time text>` before 2021;
* `event_id` is uuid5(EVENT_NAMESPACE, "<trip id>/<kind>"), computed with Spark's sha1, not a UDF.

All functions are pure column builders: no session is needed until an action runs.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from shared.events import EVENT_NAMESPACE
from shared.limits import STATION_ID_PLACEHOLDERS

NEW_YORK = "America/New_York"
MISSING = ("NA", "N/A", "NAN", "NULL", "\\N")  # as services.producer.trip_rows._MISSING
CONTROL = "[\\x00-\\x1f\\x7f-\\x9f]"  # shared.limits.bad_text's C0 and C1 controls (a Java regex)
US_FORMATS = ("M/d/yyyy H:mm:ss", "M/d/yyyy H:mm")  # strptime's %m/%d/%Y %H:%M:%S and %H:%M
EVENT_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
"""How event times are stored (UTC, fixed width, so text order is time order); msgspec reads it back."""


def stripped(column: Column) -> Column:
    """`str.strip()` then empty -> null; (?U) makes \\s Unicode-aware like Python's strip."""
    text = F.regexp_replace(column, r"(?U)^\s+|\s+$", "")
    return F.when(text != "", text)


_OFFSET = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"


def local_time(text: Column) -> Column:
    """Wall-clock text as a TIMESTAMP whose UTC reading is that wall clock (the session zone is UTC).

    ISO forms first (`fromisoformat`), then the US forms of the 2014-2016 files, as the producer tries them."""
    return F.coalesce(text.try_cast("timestamp"), *(F.try_to_timestamp(text, F.lit(fmt)) for fmt in US_FORMATS))


def has_offset(text: Column) -> Column:
    return F.coalesce(text.rlike(_OFFSET), F.lit(False))


def new_york_to_utc(local: Column) -> Column:
    """fold=0: java.time takes the earlier offset in an overlap and shifts a gap forward, as zoneinfo does."""
    return F.to_utc_timestamp(local, NEW_YORK)


def new_york_to_utc_second_pass(local: Column) -> Column:
    """fold=1: one hour later is unambiguous, so convert that and step back an hour."""
    hour = F.expr("INTERVAL 1 HOUR")
    return F.to_utc_timestamp(local + hour, NEW_YORK) - hour


def with_trip_times(frame: DataFrame, start_text: str, end_text: str, duration_text: str) -> DataFrame:
    """`frame` plus `start` and `end`: `trip_rows.trip_times`, the readings closest to the duration
    when either time is ambiguous. One `select` per step, each naming its results, so no step repeats
    the one before it (as a single expression the plan grows too big to ship to the tasks)."""
    step = frame.select(
        "*",
        *(local_time(F.col(c)).alias(f"_{k}_local") for k, c in (("s", start_text), ("e", end_text))),
        *(F.col(c).try_cast("timestamp").alias(f"_{k}_instant") for k, c in (("s", start_text), ("e", end_text))),
        *(has_offset(F.col(c)).alias(f"_{k}_offset") for k, c in (("s", start_text), ("e", end_text))),
        F.col(duration_text).try_cast("double").alias("_duration"),
    )
    folds = []
    for k in ("s", "e"):
        local, instant, offset = F.col(f"_{k}_local"), F.col(f"_{k}_instant"), F.col(f"_{k}_offset")
        folds.append(F.when(offset, instant).otherwise(new_york_to_utc(local)).alias(f"_{k}0"))
        folds.append(F.when(offset, instant).otherwise(new_york_to_utc_second_pass(local)).alias(f"_{k}1"))
    step = step.select("*", *folds)
    s0, s1, e0, e1 = (F.col(f"_{n}") for n in ("s0", "s1", "e0", "e1"))
    step = step.select(
        "*",
        F.least(s0, s1).alias("_sa"),
        F.greatest(s0, s1).alias("_sb"),
        F.least(e0, e1).alias("_ea"),
        F.greatest(e0, e1).alias("_eb"),
    )
    pairs = [(s, e) for s in ("_sa", "_sb") for e in ("_ea", "_eb")]  # Python's sorted(starts) x sorted(ends)

    def cost(s: Column, e: Column) -> Column:
        seconds = (F.unix_micros(e) - F.unix_micros(s)) / 1e6
        return F.when(e >= s, F.abs(seconds - F.col("_duration")))

    step = step.select("*", *(cost(F.col(s), F.col(e)).alias(f"_c{i}") for i, (s, e) in enumerate(pairs)))
    costs = [F.col(f"_c{i}") for i in range(len(pairs))]
    step = step.select("*", F.least(*costs).alias("_best"))
    best = F.col("_best")
    chosen_start, chosen_end = F.lit(None).cast("timestamp"), F.lit(None).cast("timestamp")
    for (s, e), c in reversed(list(zip(pairs, costs, strict=True))):  # the first minimum wins, as min() does
        chosen_start = F.when(c == best, F.col(s)).otherwise(chosen_start)
        chosen_end = F.when(c == best, F.col(e)).otherwise(chosen_end)
    use_duration = F.col("_duration").isNotNull() & ((s0 != s1) | (e0 != e1)) & best.isNotNull()
    default_end = F.when(e0 < s0, F.greatest(e0, e1)).otherwise(e0)
    step = step.select(
        "*",
        F.when(use_duration, chosen_start).otherwise(s0).alias("start"),
        F.when(use_duration, chosen_end).otherwise(default_end).alias("end"),
    )
    return step.drop(*(c for c in step.columns if c.startswith("_") and c not in frame.columns))


def parseable(text: Column) -> Column:
    return F.coalesce(local_time(text).isNotNull(), F.lit(False))


def coordinate(text: Column) -> Column:
    """Missing markers -> null; otherwise the number as written (0.0 stays 0.0, as the producer keeps it)."""
    return F.when(~F.upper(text).isin(*MISSING), text.try_cast("double"))


def coordinate_unparseable(text: Column) -> Column:
    return text.isNotNull() & ~F.upper(text).isin(*MISSING) & text.try_cast("double").isNull()


def station_field(text: Column) -> Column:
    """`row_reader.checked`: an id or name spelled as a placeholder ("NULL", "n/a", ...) is absent."""
    return F.when(~F.lower(text).isin(*sorted(STATION_ID_PLACEHOLDERS)), text)


def text_problem(value: Column, what: str, max_chars: int) -> Column:
    """`shared.limits.text_problem`: too long, or holding a control character (null when fine)."""
    return F.when(
        F.length(value) > max_chars,
        F.concat(F.lit(f"{what} is "), F.length(value).cast("string"), F.lit(f" characters long (limit {max_chars})")),
    ).when(value.rlike(CONTROL), F.lit(f"{what} holds a control character"))  # the producer also names it


def time_problem(utc: Column, earliest: datetime, latest: datetime) -> Column:
    """`shared.limits.time_problem` (reason worded without the offending value's ISO text)."""
    return F.when(utc < F.lit(earliest), F.lit(f"time is before {earliest.isoformat()}")).when(
        utc > F.lit(latest), F.lit(f"time is after {latest.isoformat()}")
    )


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
