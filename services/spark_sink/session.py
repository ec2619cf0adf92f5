"""The SparkSession, built explicitly by the entry point (or a test fixture), never at import."""

from __future__ import annotations

import logging
from pathlib import Path

from pyspark.sql import SparkSession

from services.spark_sink.preprocess.s3a import s3a_class_path
from services.spark_sink.settings import SparkSinkSettings

logger = logging.getLogger(__name__)

CONNECTOR = "spark-sql-kafka-0-10_2.13"


class ConnectorMissing(RuntimeError):
    pass


def connector_jars(directory: Path) -> list[Path]:
    jars = sorted(directory.glob("*.jar"))
    if not any(j.name.startswith(CONNECTOR) for j in jars):
        raise ConnectorMissing(
            f"no {CONNECTOR} jar in {directory}; run `./dev setup` (it resolves the "
            "connector from Maven Central) or set BIKESHARE_SPARK_JARS_DIR"
        )
    return jars


def build_session(settings: SparkSinkSettings, app_name: str = "bikeshare-spark-sink") -> SparkSession:
    jars = connector_jars(settings.spark_jars_dir)
    builder = SparkSession.builder
    if (s3a := s3a_class_path()) is not None:  # the preprocessing job's s3a://, when installed (driver class path)
        builder = builder.config("spark.driver.extraClassPath", s3a)
    session = (
        builder.master(settings.spark_master)
        .appName(app_name)
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.streaming.forceDeleteTempCheckpointLocation", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    logger.info("spark %s session on %s with %s", session.version, settings.spark_master, [j.name for j in jars])
    return session
