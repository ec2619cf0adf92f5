"""End-to-end events/s on the running cluster, side by side in one run: 1 vs 2 enricher workers, and
the Spark sink on `local[2]` vs the standalone master with 2 workers.

    .venv/bin/python -m bench.cluster_scaling [--events 100000]

One cluster (3 brokers, Spark master + 2 workers, Postgres, S3) is started once. For each
configuration the raw/clean topics are recreated, the enrichers get a new consumer group and the sink
a new checkpoint and a new database, then the producer replays the same workload (`bench.workload`)
unpaced. The figure is events / (first event published -> last event in Records). The machine's
cores and load average are printed beside it: on 2 shared cores, more workers mostly compete for CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import shutil
import time
import uuid
from dataclasses import dataclass

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from bench.workload import build_trip_files
from devstack import paths, provision
from devstack.cluster import BUCKET, TOPIC_PARTITIONS, TOPIC_REPLICATION, Cluster, cluster_ports_from
from devstack.process import ManagedProcess
from devstack.services import http_ok
from shared import topics

CONFIGS = (
    ("1 enricher, Spark standalone (2 workers)", 1, "standalone"),
    ("2 enrichers, Spark standalone (2 workers)", 2, "standalone"),
    ("1 enricher, Spark local[2]", 1, "local"),
    ("2 enrichers, Spark local[2]", 2, "local"),
)


@dataclass
class Result:
    name: str
    events: int
    seconds: float
    load: tuple[float, float, float]

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def _fresh_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in topics.ALL if t in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
    end = time.monotonic() + 60
    while True:  # deletion is asynchronous: create until the names are free again
        try:
            await provision.create_topics(bootstrap, TOPIC_PARTITIONS, TOPIC_REPLICATION, deadline_s=5)
            return
        except Exception:
            if time.monotonic() > end:
                raise
            await asyncio.sleep(1)


async def _fresh_database(cluster: Cluster, name: str) -> str:
    await provision.create_database(cluster.postgres.dsn_admin, name)
    dsn = cluster.postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
    await provision.migrate(dsn)
    return dsn


async def _records(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM records WHERE kind IN ('start', 'end')"))
    finally:
        await conn.close()


def measure(cluster: Cluster, name: str, enrichers: int, spark: str, events: int, timeout_s: float) -> Result:
    run = uuid.uuid4().hex[:8]
    asyncio.run(_fresh_topics(cluster.kafka.bootstrap))
    dsn = asyncio.run(_fresh_database(cluster, f"bench_{run}"))
    sink_env = {"BIKESHARE_POSTGRES_DSN": dsn, "BIKESHARE_SPARK_CHECKPOINT_DIR": str(cluster.state / f"ckpt-{run}")}
    if spark == "local":
        sink_env |= {"BIKESHARE_SPARK_MASTER": "local[2]", "PYSPARK_SUBMIT_ARGS": "pyspark-shell"}
    cluster.env_overrides = {
        "enricher": {"BIKESHARE_APP_ID": f"bench-{run}"},
        "spark_sink": sink_env,
        "producer": {"BIKESHARE_CHECKPOINT_DIR": str(cluster.state / f"producer-{run}")},  # no resuming across runs
    }
    started: list[ManagedProcess] = []
    try:
        for i in range(1, enrichers + 1):
            started.append(cluster.service("enricher", i))
        started.append(cluster.service("spark_sink"))
        for process in started:
            process.start()
        sink_health = cluster.health_url("spark_sink")
        started[-1].wait_ready(lambda: http_ok(sink_health), 300)
        for i in range(1, enrichers + 1):
            started[i - 1].wait_ready(functools.partial(http_ok, cluster.health_url("enricher", i)), 120)
        producer = cluster.service("producer", 1, "--prefix", "bench/")
        t0 = time.monotonic()
        producer.start()
        started.append(producer)
        while (done := asyncio.run(_records(dsn))) < events:
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"{name}: {done}/{events} events in Records after {timeout_s:.0f}s")
            time.sleep(0.5)
        return Result(name, events, time.monotonic() - t0, os.getloadavg())
    finally:
        for process in started:
            process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=900, help="per configuration")
    args = parser.parse_args(argv)
    state = paths.LOCAL / "bench" / f"cluster-scaling-{uuid.uuid4().hex[:8]}"
    workload = build_trip_files(state / "workload", args.events)
    cluster = Cluster(state, cluster_ports_from(0))
    results: list[Result] = []
    try:
        cluster.start(services=False)
        uploads = {f"bench/{f.name}": f for f in workload.files}
        asyncio.run(
            provision.ensure_bucket(cluster.s3.endpoint, BUCKET, cluster.access_key, cluster.secret_key, uploads)
        )
        for name, enrichers, spark in CONFIGS:
            results.append(measure(cluster, name, enrichers, spark, workload.events, args.timeout))
            print(f"  {name}: {results[-1].rate:,.0f} events/s", flush=True)  # noqa: T201
    finally:
        cluster.stop()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(cluster.postgres.dir, ignore_errors=True)
    slowest = min(r.rate for r in results)
    lines = [
        f"\n{workload.events:,} events end to end (producer start -> last row in Records); {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "| configuration | events/s | x slowest | seconds | load average (1/5/15 min) at the end |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {r.name} | {r.rate:,.0f} | {r.rate / slowest:.2f} | {r.seconds:.1f} | "
            f"{' / '.join(f'{x:.1f}' for x in r.load)} |"
            for r in results
        ),
    ]
    print("\n".join(lines), flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
