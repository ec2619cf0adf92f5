"""The streaming query: Kafka clean topic -> parsed `CleanEvent` columns -> `foreachBatch` writer."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from services.spark_sink.settings import SparkSinkSettings
from shared import topics
from shared.events import CleanEvent, field_names, spark_ddl

EVENT_COLUMNS = field_names(CleanEvent)


def parse_clean_events(kafka_rows: DataFrame) -> DataFrame:
    """Kafka rows (value bytes) -> one column per `CleanEvent` field plus its Kafka coordinates."""
    parsed = F.from_json(F.col("value").cast("string"), spark_ddl(CleanEvent))
    return kafka_rows.select(parsed.alias("e"), "topic", "partition", "offset").select(
        "e.*", "topic", "partition", "offset"
    )


def read_clean_topic(spark: SparkSession, settings: SparkSinkSettings, topic: str = topics.CLEAN) -> DataFrame:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", settings.starting_offsets)
        .option("failOnDataLoss", "true")
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
