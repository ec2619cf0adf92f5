"""Spark's s3a:// filesystem: where its jars are and how a session is pointed at an S3 endpoint.

hadoop-aws must match the Hadoop client inside pyspark's own jars (3.5.0 for pyspark 4.2.0); `./dev
setup` resolves it and the AWS SDK v2 bundle it needs from `infra/spark/pom.xml` into `.local/jars/s3a`.
They go on the driver's class path (`spark.driver.extraClassPath`), not in `spark.jars`: in local
mode `spark.jars` copies every jar into each session's work directory, and the SDK bundle is 690 MB.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

DEFAULT_JARS_DIR = Path(__file__).resolve().parents[3] / ".local" / "jars" / "s3a"
JARS_DIR_VARIABLE = "BIKESHARE_S3A_JARS_DIR"


class S3aMissing(RuntimeError):
    """The session cannot read s3a:// paths; the message says how to fix it."""


def s3a_jars_dir() -> Path:
    return Path(os.environ.get(JARS_DIR_VARIABLE, DEFAULT_JARS_DIR))


def s3a_class_path() -> str | None:
    """The s3a jars as a class path, or None when they are not installed (the sink does not need them)."""
    jars = sorted(s3a_jars_dir().glob("*.jar"))
    if not any(j.name.startswith("hadoop-aws-") for j in jars):
        return None
    return os.pathsep.join(str(j) for j in jars)


def configure_s3a(
    spark: SparkSession,
    endpoint_url: str | None,
    access_key: str | None,
    secret_key: str | None,
    region: str = "us-east-1",
) -> None:
    """Point s3a at the endpoint (path-style for SeaweedFS/MinIO; unset = AWS S3 itself)."""
    jvm: Any = spark.sparkContext._jvm
    try:
        jvm.java.lang.Class.forName("org.apache.hadoop.fs.s3a.S3AFileSystem")
    except Exception as exc:
        raise S3aMissing(
            f"this Spark session has no s3a filesystem (no hadoop-aws jar in {s3a_jars_dir()} when it started); "
            f"run `./dev setup` or set {JARS_DIR_VARIABLE}"
        ) from exc
    conf: Any = spark.sparkContext._jsc.hadoopConfiguration()
    settings = {"fs.s3a.endpoint.region": region, "fs.s3a.fast.upload": "true"}
    if endpoint_url:
        settings |= {
            "fs.s3a.endpoint": endpoint_url,
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": str(endpoint_url.startswith("https:")).lower(),
        }
    if access_key and secret_key:
        settings |= {
            "fs.s3a.access.key": access_key,
            "fs.s3a.secret.key": secret_key,
            "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        }
    for key, value in settings.items():
        conf.set(key, value)
