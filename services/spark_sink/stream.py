"""The streaming query: Kafka clean topic -> parsed, checked `CleanEvent` columns -> `foreachBatch` writer.

A clean-topic record is a frame (`shared.frames`: a JSON array of events) or a single event object; Spark
parses both with one `from_json` to an array of structs (an object is taken as an array of one) and
explodes it, so each event is a row with its record's Kafka coordinates and its `frame_index`. A record
that is not JSON is one rejected row holding the whole record; a frame element with a wrong field is
rejected alone (Spark's partial results), with the element as Spark parsed it as its payload.

Parsing and the storability checks run in Spark's JVM (vectorised, on the executors): every row leaves
with either its typed columns and `reject_reason` NULL, or a `reject_reason` and its original bytes
(`payload`, only then) so the driver can quarantine it without a second read of Kafka. The checks mirror
`shared.limits`, so a record the enricher would refuse never reaches Postgres even if written to the
clean topic by something else.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from services.spark_sink.settings import SparkSinkSettings
from shared import limits, topics
from shared.events import CleanEvent, EventKind, field_names, spark_ddl

EVENT_COLUMNS = field_names(CleanEvent)
COORDINATE_COLUMNS = ("topic", "partition", "offset", "frame_index")
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# Characters Postgres refuses (NUL) or that corrupt logs and the map: C0 and C1 controls, DEL.
CONTROL_PATTERN = "[\\x{0}-\\x{1f}\\x{7f}-\\x{9f}]"


def _too_long_or_unprintable(name: str, limit: int, nullable: bool) -> list[tuple[Column, str]]:
    value = F.col(name)
    checks = [] if nullable else [(value.isNull(), f"{name} is missing")]
    return [
        *checks,
        (F.length(value) > limit, f"{name} is longer than {limit} characters"),
        (value.rlike(CONTROL_PATTERN), f"{name} has a control character"),
    ]


def reject_reason() -> Column:
    """The first rule a parsed row breaks (Spark SQL), or NULL for a row Postgres will take."""
    kinds = [k.value for k in EventKind]
    rules: list[tuple[Column, str]] = [
        (F.col("event_id").isNull(), "not a CleanEvent (unparseable JSON or no event_id)"),
        (~F.lower(F.col("event_id")).rlike(UUID_PATTERN), "event_id is not a UUID"),
        (F.col("event_time").isNull(), "event_time is missing"),
        (F.col("event_ts").isNull(), "event_time is not an ISO 8601 time"),
        (~F.col("kind").isin(kinds) | F.col("kind").isNull(), f"kind is not one of {', '.join(kinds)}"),
        *_too_long_or_unprintable("station_id", limits.STATION_ID_MAX, nullable=False),
        (F.trim(F.col("station_id")) == "", "station_id is empty"),
        *_too_long_or_unprintable("street", limits.STATION_NAME_MAX, nullable=False),
        *_too_long_or_unprintable("trip_id", limits.TRIP_ID_MAX, nullable=False),
        *_too_long_or_unprintable("bike_id", limits.BIKE_ID_MAX, nullable=True),
        *_too_long_or_unprintable("rideable_type", limits.RIDEABLE_TYPE_MAX, nullable=True),
        (F.col("lat").isNull() | F.col("lon").isNull(), "lat or lon is missing"),
        (~F.col("lat").between(*limits.LAT_RANGE) | F.isnan("lat"), "lat is not a latitude"),
        (~F.col("lon").between(*limits.LON_RANGE) | F.isnan("lon"), "lon is not a longitude"),
        (~F.col("count").between(1, limits.COUNT_MAX), f"count is outside 1..{limits.COUNT_MAX}"),
    ]
    reason: Column = F.lit(None).cast("string")
    for condition, text in reversed(rules):
        reason = F.when(F.coalesce(condition, F.lit(False)), F.lit(text)).otherwise(reason)
    return reason


def parse_clean_events(kafka_rows: DataFrame) -> DataFrame:
    """Kafka rows -> one row per event: a column per `CleanEvent` field (event_time as a UTC timestamp),
    `reject_reason`, the original bytes as `payload` for rejected rows only, and the Kafka coordinates."""
    text = F.col("value").cast("string")
    records = kafka_rows.select(
        F.from_json(text, f"ARRAY<STRUCT<{spark_ddl(CleanEvent)}>>").alias("events"),
        # Once per record, before the explode: the record's text is a whole frame (up to 256 KiB).
        F.ltrim(text).startswith("[").alias("framed"),
        "value",
        "topic",
        "partition",
        "offset",
    )
    exploded = records.select(
        F.posexplode_outer("events").alias("frame_index", "e"), "framed", "value", "topic", "partition", "offset"
    )
    events = exploded.select(
        *(F.col(f"e.{name}").alias(name) for name in EVENT_COLUMNS),
        "e",
        "framed",
        "value",
        "topic",
        "partition",
        "offset",
        F.coalesce(F.col("frame_index"), F.lit(0)).alias("frame_index"),
    )
    events = events.withColumn("count", F.coalesce(F.col("count"), F.lit(1))).withColumn(
        "event_ts", F.col("event_time").try_cast("timestamp")
    )
    events = events.withColumn("reject_reason", reject_reason())
    # A rejected frame element's payload is the element as Spark parsed it (its own bytes are not kept
    # apart); a rejected single-event record's, or an unparseable record's, is the record itself.
    element = F.when(F.col("e").isNotNull() & F.col("framed"), F.to_json("e").cast("binary")).otherwise(F.col("value"))
    return events.select(
        *(F.col("event_ts").alias(name) if name == "event_time" else F.col(name) for name in EVENT_COLUMNS),
        F.when(F.col("reject_reason").isNotNull(), element).alias("payload"),
        "reject_reason",
        *COORDINATE_COLUMNS,
    )


def warm_up(spark: SparkSession, frames: int = 40, rounds: int = 2) -> int:
    """Parse and collect a made-up frame once, through the same plan as a real batch, before any data
    arrives: Spark generates its code on first use and the JVM compiles the hot paths after many calls,
    which made the first real batch take 6-7 s for 12,500 events. `frames` full frames (500 events each)
    `rounds` times; returns the rows collected the last time (the events plus one broken record)."""
    event = {
        "event_id": "00000000-0000-5000-8000-000000000000",
        "trip_id": "warm-up",
        "kind": "start",
        "event_time": "2024-01-01T00:00:00+00:00",
        "station_id": "0",
        "street": "warm-up",
        "lat": 40.7,
        "lon": -74.0,
        "bike_id": None,
        "rideable_type": None,
        "count": 1,
        "source": "warm-up",
    }
    frame = json.dumps([event] * limits.FRAME_EVENTS_DEFAULT).encode()
    rows = [(frame, "warm-up", 0, n) for n in range(frames)] + [(b"{not json", "warm-up", 0, frames)]
    kafka_like = spark.createDataFrame(rows, "value BINARY, topic STRING, partition INT, offset BIGINT")
    collected = 0
    for _ in range(rounds):
        collected = int(parse_clean_events(kafka_like).toArrow().num_rows)
    return collected


def read_clean_topic(spark: SparkSession, settings: SparkSinkSettings, topic: str = topics.CLEAN) -> DataFrame:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", settings.starting_offsets)
        .option("failOnDataLoss", "true")
        .option("kafka.fetch.max.bytes", str(settings.kafka_fetch_max_bytes))
        .option("kafka.max.partition.fetch.bytes", str(settings.kafka_fetch_max_bytes))
    )
    if settings.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
    return parse_clean_events(reader.load())


def start_query(
    events: DataFrame,
    write_batch: Callable[[DataFrame, int], None],
    settings: SparkSinkSettings,
    name: str = "clean_to_postgres",
) -> StreamingQuery:
    return (
        events.writeStream.queryName(name)
        .foreachBatch(write_batch)
        .option("checkpointLocation", str(settings.spark_checkpoint_dir))
        .trigger(processingTime=f"{settings.trigger_seconds:g} seconds")
        .start()
    )
