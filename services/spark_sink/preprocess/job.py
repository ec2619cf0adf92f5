"""The batch job: raw trip files of any era -> normalised `TripEvent` rows as Parquet, partitioned by
the trip's New York start year/month and by source file, plus a rejects folder with each bad row's reason.

Lines are read with Spark's text source (numbered per file, so each event's `source` names the same
`s3://bucket/key#row` as the producer's) and split by Spark's own CSV parser (`from_csv`, PERMISSIVE,
with a corrupt-record column): no Python touches a row. Files are grouped by header, so every era
(and every column order) is read with its own layout, matched by the producer's `Layout`.

Rerunning replaces exactly the partitions it writes (`partitionOverwriteMode=dynamic`); the `file`
partition keeps a rerun of one file from replacing another file's trips of the same month.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from services.producer.row_reader import Plausible
from services.producer.trip_rows import FormatError, Layout
from services.spark_sink.preprocess import columns as C
from shared.events import TripEvent, spark_ddl
from shared.limits import STATION_ID_MAX, STATION_NAME_MAX

logger = logging.getLogger(__name__)


def event_schema() -> StructType:
    """The Parquet files' columns: `TripEvent`'s fields with `spark_ddl`'s types (parsing DDL needs a session)."""
    schema = StructType.fromDDL(spark_ddl(TripEvent))
    assert isinstance(schema, StructType)
    return schema


PARTITIONS = ("year", "month", "file")
# Python's csv module defaults: comma, double quote, "" escapes a quote inside a quoted field.
CSV_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt", "escape": '"', "quote": '"'}
INPUT_GLOB = "*.{csv,CSV,csv.gz,csv.bz2}"


@dataclass
class Summary:
    """What one run did; printed as JSON at the end and used for the exit code."""

    files: int = 0
    trips: int = 0
    events: int = 0
    rejected_rows: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejected_files: dict[str, str] = field(default_factory=dict)
    partitions: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def trips_per_second(self) -> float:
        return self.trips / self.seconds if self.seconds else 0.0


def partition_name(path: str) -> str:
    """The `file=` partition value: the object's base name, made safe so Spark never escapes it."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", path.rsplit("/", 1)[-1])


def source_uri(path: Column) -> Column:
    """s3a://bucket/key -> s3://bucket/key, as the producer names its sources."""
    return F.regexp_replace(path, r"^s3a://", "s3://")


def numbered_lines(spark: SparkSession, input_path: str) -> DataFrame:
    """(path, line number from 1, text) for every line of every trip file under `input_path`.

    Within a file the ids of monotonically_increasing_id follow the file's byte order (splits of a
    file are planned in order), so numbering by them gives the line numbers a text editor shows."""
    text = (
        spark.read.option("recursiveFileLookup", "true")
        .option("pathGlobFilter", INPUT_GLOB)
        .text(input_path)
        .select(F.col("_metadata.file_path").alias("path"), "value", F.monotonically_increasing_id().alias("seq"))
    )
    numbering = Window.partitionBy("path").orderBy("seq")
    return text.select("path", F.row_number().over(numbering).alias("line"), "value")


def read_headers(lines: DataFrame) -> dict[str, list[str]]:
    rows = lines.where(F.col("line") == 1).select("path", "value").collect()
    return {r["path"]: next(csv.reader([r["value"].lstrip("\ufeff")]), []) for r in rows}


def group_by_layout(headers: dict[str, list[str]], summary: Summary) -> list[tuple[Layout, list[str]]]:
    """Files that share a column layout, read together; a file that is not a trip file is skipped and reported."""
    groups: dict[tuple[object, ...], tuple[Layout, list[str]]] = {}
    for path, header in sorted(headers.items()):
        source = path.replace("s3a://", "s3://", 1)
        try:
            layout = Layout.from_header(header, source)
        except FormatError as exc:
            summary.rejected_files[source] = exc.reason
            logger.error("skipping %s: %s", source, exc.reason)
            continue
        key = (tuple(sorted(layout.columns.items())), layout.width)
        groups.setdefault(key, (layout, []))[1].append(path)
    return list(groups.values())


def checked_rows(lines: DataFrame, layout: Layout, paths: list[str]) -> DataFrame:
    """Every data row of files sharing `layout`, parsed, with its trip fields and the reason it is bad (or null).

    The checks and their order are the producer's: `trip_rows.trip_events`, then `row_reader.checked`
    for the start event and for the end event. Computed in steps (one `select` each) that name their
    results: written as one expression, the time rules would repeat their sub-expressions many times
    over and the plan would grow too big to ship to the tasks."""
    width = layout.width
    schema = ", ".join(f"c{i} STRING" for i in range(width)) + ", _corrupt STRING"
    rows = lines.where(F.col("path").isin(paths) & (F.col("line") > 1) & (F.col("value") != ""))
    parsed = rows.select("path", "line", "value", F.from_csv("value", schema, CSV_OPTIONS).alias("r"))

    def get(name: str) -> Column:
        i = layout.columns.get(name)
        return C.stripped(F.col(f"r.c{i}")) if i is not None else F.lit(None).cast("string")

    texts = [
        *TEXT_FIELDS,
        "start_time",
        "end_time",
        "duration",
        "ride_id",
        "start_lat",
        "start_lon",
        "end_lat",
        "end_lon",
    ]
    fields = parsed.select(
        "path", "line", "value", F.col("r._corrupt").alias("corrupt"), *(get(n).alias(n) for n in texts)
    )
    step = C.with_trip_times(fields, "start_time", "end_time", "duration")
    return step.select(
        "path",
        "line",
        "value",
        _reason(width).alias("reason"),
        C.trip_id(F.col("ride_id"), F.col("bike_id"), F.col("start_time")).alias("trip_id"),
        "start",
        "end",
        F.year(F.from_utc_timestamp("start", C.NEW_YORK)).alias("year"),
        F.month(F.from_utc_timestamp("start", C.NEW_YORK)).alias("month"),
        *(C.station_field(F.col(n)).alias(n) for n in ("start_id", "start_name", "end_id", "end_name")),
        "bike_id",
        "rideable_type",
        *(C.coordinate(F.col(t)).alias(n) for t, n in zip(COORDINATES, ("slat", "slon", "elat", "elon"), strict=True)),
    )


TEXT_FIELDS = ("start_id", "start_name", "end_id", "end_name", "bike_id", "rideable_type")
COORDINATES = ("start_lat", "start_lon", "end_lat", "end_lon")


def _reason(width: int) -> Column:
    """The first check a row fails, worded as the producer words it (null: the row is good)."""
    start_text, end_text, start, end = F.col("start_time"), F.col("end_time"), F.col("start"), F.col("end")
    reason = F.when(F.col("corrupt").isNotNull(), F.lit(f"malformed CSV row (header has {width} fields)"))
    for text in (start_text, end_text):
        reason = reason.when(text.isNull(), F.lit("missing time"))
        reason = reason.when(~C.parseable(text), F.concat(F.lit("unparseable time "), C.python_repr(text)))
    reason = reason.when(
        end < start, F.concat(F.lit("ends before it starts ("), end_text, F.lit(" < "), start_text, F.lit(")"))
    )
    for name in COORDINATES:
        text = F.col(name)
        reason = reason.when(
            C.coordinate_unparseable(text), F.concat(F.lit("unparseable coordinate "), C.python_repr(text))
        )
    plausible = Plausible().resolved()
    for kind, moment in (("start", start), ("end", end)):
        for part, what, limit in (("id", "station id", STATION_ID_MAX), ("name", "station name", STATION_NAME_MAX)):
            problem = C.text_problem(C.station_field(F.col(f"{kind}_{part}")), what, limit)
            reason = reason.when(problem.isNotNull(), F.concat(F.lit(f"{kind} "), problem))
        assert plausible.latest is not None  # resolved() sets it
        problem = C.time_problem(moment, plausible.earliest, plausible.latest)
        reason = reason.when(problem.isNotNull(), F.concat(F.lit(f"{kind} "), problem))
    return reason


def trip_events(good: DataFrame) -> DataFrame:
    """Two `TripEvent` rows per trip (start, end), cast to the one event schema, plus partition columns."""

    def side(kind: str, time: str, prefix: str, lat: str, lon: str) -> Column:
        return F.struct(
            C.uuid5(F.concat(F.col("trip_id"), F.lit(f"/{kind}"))).alias("event_id"),
            F.col("trip_id").alias("trip_id"),
            F.lit(kind).alias("kind"),
            C.event_time_text(F.col(time)).alias("event_time"),
            F.col(f"{prefix}_id").alias("station_id"),
            F.col(f"{prefix}_name").alias("station_name"),
            F.col(lat).alias("lat"),
            F.col(lon).alias("lon"),
            F.col("bike_id").alias("bike_id"),
            F.col("rideable_type").alias("rideable_type"),
            F.lit(1).alias("count"),
            F.concat(source_uri(F.col("path")), F.lit("#"), F.col("line").cast("string")).alias("source"),
        )

    exploded = good.select(
        F.explode(
            F.array(side("start", "start", "start", "slat", "slon"), side("end", "end", "end", "elat", "elon"))
        ).alias("e"),
        "year",
        "month",
        "file",
    )
    return exploded.select(*(F.col(f"e.{f.name}").cast(f.dataType).alias(f.name) for f in event_schema()), *PARTITIONS)


def with_file_partition(df: DataFrame, names: dict[str, str]) -> DataFrame:
    mapping = F.create_map(*(F.lit(x) for pair in names.items() for x in pair))
    return df.withColumn("file", mapping[F.col("path")])


def delete_partitions(spark: SparkSession, root: str, names: list[str]) -> None:
    """Drop a file's old rejects first: a rerun with fewer bad rows must not leave stale ones behind."""
    jvm: Any = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for name in names:
        path = jvm.org.apache.hadoop.fs.Path(f"{root.rstrip('/')}/file={name}")
        path.getFileSystem(conf).delete(path, True)


def run(spark: SparkSession, input_path: str, output_path: str, rejects_path: str) -> Summary:
    """Preprocess every trip file under `input_path`; see the module docstring."""
    started = time.monotonic()
    summary = Summary()
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # the wall-clock arithmetic in `columns` relies on it
    lines = numbered_lines(spark, input_path).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        headers = read_headers(lines)
        summary.files = len(headers)
        groups = group_by_layout(headers, summary)
        paths = [p for _, group in groups for p in group]
        if not paths:
            logger.warning("no trip files under %s", input_path)
            summary.seconds = time.monotonic() - started
            return summary
        names = {p: partition_name(p) for p in paths}
        checked_parts = [checked_rows(lines, layout, group) for layout, group in groups]
        checked = checked_parts[0]
        for part in checked_parts[1:]:
            checked = checked.unionByName(part)
        checked = with_file_partition(checked, names).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            _write(spark, checked, output_path, rejects_path, sorted(set(names.values())), summary)
        finally:
            checked.unpersist()
    finally:
        lines.unpersist()
    summary.seconds = time.monotonic() - started
    return summary


def _write(
    spark: SparkSession, checked: DataFrame, output_path: str, rejects_path: str, names: list[str], summary: Summary
) -> None:
    good = checked.where(F.col("reason").isNull())
    bad = checked.where(F.col("reason").isNotNull())
    events = trip_events(good)
    (
        events.repartition(*PARTITIONS)
        # The writer needs rows ordered by the partition columns; leading with them keeps our order after them.
        .sortWithinPartitions(*PARTITIONS, "event_time", "event_id")
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .option("compression", "zstd")
        .partitionBy(*PARTITIONS)
        .parquet(output_path)
    )
    delete_partitions(spark, rejects_path, names)
    rejects = bad.select(
        F.concat(source_uri(F.col("path")), F.lit("#"), F.col("line").cast("string")).alias("source"),
        "reason",
        F.col("value").alias("record"),
        "file",
    )
    rejects.write.mode("append").partitionBy("file").json(rejects_path)
    why = F.regexp_replace("reason", r" '.*$| \(.*$", "").alias("why")
    counts = checked.groupBy(why, "year", "month", "file").count().collect()
    summary.trips = sum(r["count"] for r in counts if r["why"] is None)
    summary.events = 2 * summary.trips
    summary.partitions = sorted(
        {f"year={r['year']}/month={r['month']}/file={r['file']}" for r in counts if r["why"] is None}
    )
    reasons: dict[str, int] = {}
    for r in counts:
        if r["why"] is not None:
            reasons[r["why"]] = reasons.get(r["why"], 0) + r["count"]
    summary.rejected_by_reason = reasons
    summary.rejected_rows = sum(reasons.values())
