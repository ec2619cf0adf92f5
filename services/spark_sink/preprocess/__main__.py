"""`python -m services.spark_sink.preprocess`: raw trip files in S3 -> partitioned Parquet in S3, then exit.

Exit codes: 0 done (rows Spark could not use are in the rejects folder and counted), 1 done but some
objects were not trip files (named in the summary), 2 nothing written (settings, S3 or Spark failed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from services.spark_sink.preprocess import job
from services.spark_sink.preprocess.s3a import S3aMissing, configure_s3a, s3a_class_path
from services.spark_sink.preprocess.settings import PreprocessSettings
from shared.logs import configure_logging
from shared.settings import load_settings

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.spark_sink.preprocess",
        description="Normalise raw Citi Bike trip files (every era, .csv/.csv.gz) into Parquet partitioned by "
        "year/month/file, with the TripEvent columns; rows Spark cannot use go to the rejects folder.",
        epilog="Exit codes: 0 done, 1 done but some objects were not trip files, 2 nothing written.",
    )
    parser.add_argument("--input", default="raw/", help="key prefix (or s3a:// URI) of the trip files (default raw/)")
    parser.add_argument("--output", default="parquet/trips/", help="key prefix (or s3a:// URI) for the Parquet")
    parser.add_argument("--rejects", default="parquet/rejects/", help="key prefix (or s3a:// URI) for bad rows")
    return parser.parse_args(argv)


def uri(bucket: str, path: str) -> str:
    return path if "://" in path else f"s3a://{bucket}/{path.lstrip('/')}"


def build_session(settings: PreprocessSettings) -> SparkSession:
    class_path = s3a_class_path()
    if class_path is None:
        raise S3aMissing("no hadoop-aws jar found: run `./dev setup` (it resolves s3a from infra/spark/pom.xml)")
    return (
        SparkSession.builder.master(settings.spark_master)
        .appName("bikeshare-preprocess")
        .config("spark.driver.extraClassPath", class_path)
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings(PreprocessSettings)
    configure_logging(settings.log_level, settings.log_format)
    paths = [uri(settings.s3_bucket, p) for p in (args.input, args.output, args.rejects)]
    key = settings.aws_access_key_id.get_secret_value() if settings.aws_access_key_id else None
    secret = settings.aws_secret_access_key.get_secret_value() if settings.aws_secret_access_key else None
    try:
        spark = build_session(settings)
    except S3aMissing as exc:
        logger.error("%s", exc)
        return 2
    try:
        spark.sparkContext.setLogLevel("ERROR")
        configure_s3a(spark, settings.s3_endpoint_url, key, secret, settings.s3_region)
        summary = job.run(spark, *paths)
    except (PySparkException, S3aMissing) as exc:
        logger.error(
            "preprocessing %s failed: %s; check BIKESHARE_S3_ENDPOINT_URL, the AWS_* keys and --input", paths[0], exc
        )
        return 2
    finally:
        spark.stop()
    report = dataclasses.asdict(summary) | {"trips_per_second": round(summary.trips_per_second)}
    print(json.dumps(report, indent=2))  # noqa: T201 - the summary is the command's output
    logger.info(
        "preprocessed %d files: %d trips -> %d events in %.1fs (%.0f trips/s); %d rows rejected to %s",
        summary.files,
        summary.trips,
        summary.events,
        summary.seconds,
        summary.trips_per_second,
        summary.rejected_rows,
        paths[2],
    )
    return 1 if summary.rejected_files else 0


if __name__ == "__main__":
    sys.exit(main())
