"""`python -m devstack cluster`: the whole cluster in the foreground, the demo replay through it, and
the supervisor restarting whatever dies until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

from devstack import paths
from devstack.cluster import BUCKET, Cluster, cluster_ports_from
from devstack.errors import StackError
from devstack.provision import ensure_bucket

logger = logging.getLogger("devstack")

SAMPLE_KEY = "demo/202409-citibike-tripdata-sample.csv"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="./dev cluster", description=__doc__)
    p.add_argument("--state", type=Path, default=paths.LOCAL / "cluster", help="state directory")
    p.add_argument(
        "--port-base",
        type=int,
        default=int(os.environ.get("BIKESHARE_STACK_PORT_BASE", "19100")),
        help="first of the 32 ports the cluster uses (0: any free range)",
    )
    p.add_argument("--enrichers", type=int, default=2, help="enricher workers in the consumer group")
    p.add_argument("--web-replicas", type=int, default=2, choices=[1, 2])
    p.add_argument("--spark", choices=["standalone", "local"], default="standalone", help="Spark master + 2 workers")
    return p


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    stop.wait()


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        cluster = Cluster(args.state, cluster_ports_from(args.port_base), args.enrichers, args.web_replicas, args.spark)
        cluster.start()
    except StackError as exc:
        logger.error("%s", exc)
        return 1
    try:
        sample = paths.SAMPLE_DIR / Path(SAMPLE_KEY).name
        asyncio.run(
            ensure_bucket(cluster.s3.endpoint, BUCKET, cluster.access_key, cluster.secret_key, {SAMPLE_KEY: sample})
        )
        cluster.run_producer(SAMPLE_KEY)
        lines = [
            f"  Kafka:  {cluster.kafka.bootstrap} (3 brokers, KRaft)",
            f"  Spark:  {cluster.spark_master_url}"
            + (f" (UI http://127.0.0.1:{cluster.ports.spark_master[1]}/)" if cluster.master else ""),
            *(f"  Map:    {url}/" for url in cluster.web_urls()),
            f"  Logs:   {cluster.logs}",
            "  The supervisor restarts any process that dies. Ctrl-C stops everything.",
        ]
        print("\n" + "\n".join(lines) + "\n", flush=True)  # noqa: T201
        _wait_for_signal()
    finally:
        cluster.stop()
    return 0
