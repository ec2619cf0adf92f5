"""The Parquet path, measured side by side in one run: Spark preprocessing, and the producer's reading
from Parquet against from CSV.

    .venv/bin/python -m bench.preprocess_throughput [--repeat 3]

Starts a private stack (SeaweedFS S3 on free ports; Kafka and Postgres start too but are not used),
uploads the real trip files of ../shared/data, then times:

* the Spark job (`services.spark_sink.preprocess.job.run`, s3a in and out, local[2]): trips/s, the
  first run (cold JVM) and a rerun (warm; it replaces the same partitions);
* the producer's read path on the same trips, one core: S3 GET + CSV rows -> checked `TripEvent`s
  (`row_reader.read_document`), against S3 GET + Parquet -> `TripEvent`s (`parquet_source`);
* the limit for each format on one core: pyarrow's CSV reader on the CSV bytes, and pyarrow's
  Parquet reader on the Parquet bytes (columns only, no events built).

Events/s are events (two per trip). Report `uptime`'s load average with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import shutil
import time
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from aiobotocore.session import get_session

from devstack import paths
from devstack.stack import BUCKET, Stack, free_ports
from services.producer.parquet_source import parquet_events
from services.producer.row_reader import Plausible, read_document
from services.producer.trip_rows import BadRow
from services.spark_sink.preprocess import job
from services.spark_sink.preprocess.__main__ import build_session
from services.spark_sink.preprocess.s3a import configure_s3a
from services.spark_sink.preprocess.settings import PreprocessSettings

DATA = paths.ROOT.parent / "shared" / "data"
FILES = sorted(p for p in DATA.glob("*/**/*.csv") if "Subway" not in p.name)


async def s3_call(stack: Stack, action: Callable[[Any], Any]) -> Any:
    async with get_session().create_client(
        "s3",
        endpoint_url=stack.s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id=stack.access_key,
        aws_secret_access_key=stack.secret_key,
    ) as s3:
        return await action(s3)


async def upload(s3: Any, prefix: str) -> list[str]:
    keys = []
    for n, path in enumerate(FILES):
        key = f"{prefix}/raw/{n}-{path.name}"
        await s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


async def get_all(s3: Any, keys: list[str]) -> dict[str, bytes]:
    out = {}
    for key in keys:
        response = await s3.get_object(Bucket=BUCKET, Key=key)
        async with response["Body"] as body:
            out[key] = await body.read()
    return out


async def list_parquet(s3: Any, prefix: str) -> list[str]:
    keys: list[str] = []
    async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]
    return sorted(keys)


def best(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    """(best seconds, items) over `repeat` runs."""
    times, items = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        items = run()
        times.append(time.perf_counter() - started)
    return min(times), items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", str(paths.VENV_BIN / "python"))
    stack = Stack(paths.LOCAL / "bench" / f"preprocess-{uuid.uuid4().hex[:8]}", free_ports())
    stack.start()
    spark = None
    try:
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        csv_keys = asyncio.run(s3_call(stack, lambda s3: upload(s3, prefix)))
        settings = PreprocessSettings.model_validate({"s3_bucket": BUCKET})
        spark = build_session(settings)
        spark.sparkContext.setLogLevel("ERROR")
        configure_s3a(spark, stack.s3.endpoint, stack.access_key, stack.secret_key)
        uris = (f"s3a://{BUCKET}/{prefix}/raw/", f"s3a://{BUCKET}/{prefix}/trips", f"s3a://{BUCKET}/{prefix}/rejects")
        cold = job.run(spark, *uris)
        warm = job.run(spark, *uris)

        parquet_keys = asyncio.run(s3_call(stack, lambda s3: list_parquet(s3, f"{prefix}/trips/")))

        def from_csv() -> int:
            blobs = asyncio.run(s3_call(stack, lambda s3: get_all(s3, csv_keys)))
            return sum(
                1
                for key, data in blobs.items()
                for item in read_document(key, io.BytesIO(data), Plausible())
                if not isinstance(item, BadRow)
            )

        def from_parquet() -> int:
            blobs = asyncio.run(s3_call(stack, lambda s3: get_all(s3, parquet_keys)))
            return sum(1 for key, data in blobs.items() for _ in parquet_events(data, key))

        csv_blobs = asyncio.run(s3_call(stack, lambda s3: get_all(s3, csv_keys)))
        parquet_blobs = asyncio.run(s3_call(stack, lambda s3: get_all(s3, parquet_keys)))

        def arrow_csv() -> int:  # rows, i.e. trips: x2 for events below
            return sum(pacsv.read_csv(io.BytesIO(b)).num_rows for b in csv_blobs.values())

        def arrow_parquet() -> int:
            return sum(pq.read_table(io.BytesIO(b)).num_rows for b in parquet_blobs.values())

        csv_s, csv_events = best(args.repeat, from_csv)
        pq_s, pq_events = best(args.repeat, from_parquet)
        acsv_s, acsv_rows = best(args.repeat, arrow_csv)
        apq_s, apq_rows = best(args.repeat, arrow_parquet)
    finally:
        if spark is not None:
            spark.stop()
        stack.stop()
        shutil.rmtree(stack.state, ignore_errors=True)
        shutil.rmtree(stack.postgres.dir, ignore_errors=True)

    load = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")  # noqa: T201
    print(f"load average while measuring (1/5/15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")  # noqa: T201
    trips = f"{cold.trips} trips ({cold.events} events), {cold.rejected_rows} rejected rows"
    print(f"input: {len(FILES)} real trip files, {trips}\n")  # noqa: T201
    rows = [
        ("Spark preprocess, cold (s3a CSV -> Parquet)", cold.events / cold.seconds),
        ("Spark preprocess, rerun (replaces partitions)", warm.events / warm.seconds),
        ("producer: S3 + CSV -> events", csv_events / csv_s),
        ("producer: S3 + Parquet -> events", pq_events / pq_s),
        ("limit: pyarrow CSV parse (no events)", 2 * acsv_rows / acsv_s),
        ("limit: pyarrow Parquet read (no events)", 2 * apq_rows / apq_s),
    ]
    slowest = min(rate for _, rate in rows)
    print(f"| {'what':<48} | {'events/s':>10} | {'trips/s':>10} | x slowest |")  # noqa: T201
    print(f"|{'-' * 50}|{'-' * 12}:|{'-' * 12}:|----------:|")  # noqa: T201
    for what, rate in rows:
        print(f"| {what:<48} | {rate:>10,.0f} | {rate / 2:>10,.0f} | {rate / slowest:>9.1f} |")  # noqa: T201
    assert csv_events == pq_events, f"the two paths disagree: {csv_events} events from CSV, {pq_events} from Parquet"


if __name__ == "__main__":
    main()
