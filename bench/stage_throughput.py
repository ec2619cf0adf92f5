"""Throughput of each pipeline stage, measured side by side in one run on this machine.

    .venv/bin/python -m bench.stage_throughput [--repeat 3]

Starts a private local stack (Kafka, Postgres, SeaweedFS on free ports), then times, on the real
Citi Bike files in ../shared/data: CSV rows -> events (producer parsing), events -> Kafka (producer
publishing), raw -> clean (enricher normalisation, in process), clean events -> Postgres (the sink's
transaction). Prints events/s per stage and each stage's ratio to the slowest one.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import shutil
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from aiokafka import AIOKafkaProducer

from devstack import paths, provision
from devstack.stack import Stack, free_ports
from services.enricher.normalise import normalise
from services.enricher.stations import StationCatalogue
from services.producer.publisher import Publisher
from services.producer.replay import order_events
from services.producer.settings import ProducerSettings
from services.producer.trip_rows import BadRow, split_rows
from services.spark_sink.postgres_writer import staging_row, write_events
from shared import topics
from shared.events import CleanEvent, TripEvent, encode

DATA = paths.ROOT.parent / "shared" / "data"
FILES = sorted(p for p in DATA.glob("*/**/*.csv") if "Subway" not in p.name)


def parse_all() -> list[TripEvent]:
    events: list[TripEvent] = []
    for path in FILES:
        with path.open(newline="") as f:
            events += [e for e in split_rows(iter(csv.reader(f)), str(path)) if not isinstance(e, BadRow)]
    return order_events(events)


async def publish(stack: Stack, events: list[TripEvent]) -> None:
    settings = ProducerSettings.model_validate(
        {"kafka_bootstrap_servers": stack.kafka.bootstrap, "s3_bucket": "unused", "progress_every_s": 3600}
    )
    kafka = AIOKafkaProducer(
        bootstrap_servers=stack.kafka.bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_batch_size=settings.max_batch_bytes,
    )
    await kafka.start()
    try:
        publisher = Publisher(kafka)
        await publisher.prepare([topics.RAW])
        await publisher.publish(((topics.RAW, (e.station_id or "").encode(), encode(e), None) for e in events), 0)
    finally:
        await kafka.stop()


async def write(dsn: str, clean: list[CleanEvent], batch: int = 5000) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for n in range(0, len(clean), batch):
            rows = [staging_row(msgspec.to_builtins(c)) for c in clean[n : n + batch]]
            await write_events(conn, n // batch, rows)
    finally:
        await conn.close()


def timed(label: str, count: int, run: Callable[[], object], results: dict[str, list[float]]) -> None:
    started = time.perf_counter()
    run()
    results.setdefault(label, []).append(count / (time.perf_counter() - started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    stack = Stack(paths.LOCAL / "bench" / uuid.uuid4().hex[:8], free_ports())
    stack.start()
    results: dict[str, list[float]] = {}
    try:
        catalogue = StationCatalogue.from_gbfs(paths.ROOT / "data" / "stations" / "station_information.json")
        events = parse_all()
        raw = [encode(e) for e in events]
        clean = [c for c in (normalise(r, catalogue) for r in raw) if isinstance(c, CleanEvent)]

        def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
            return lambda: asyncio.run(coro())

        def sink(dsn: str) -> Callable[[], None]:
            return run(lambda: write(dsn, clean))

        for i in range(args.repeat):
            timed("producer: CSV rows -> events", len(events), parse_all, results)
            timed("producer: events -> Kafka (acks=all)", len(events), run(lambda: publish(stack, events)), results)
            timed(
                "enricher: raw -> clean (normalise)", len(raw), lambda: [normalise(r, catalogue) for r in raw], results
            )
            dsn = stack.postgres_dsn.rsplit("/", 1)[0] + f"/bench{i}"
            asyncio.run(provision.create_database(stack.postgres.dsn_admin, f"bench{i}"))
            asyncio.run(provision.migrate(dsn))
            timed("sink: clean -> Postgres (5k batches)", len(clean), sink(dsn), results)
    finally:
        stack.stop()
        shutil.rmtree(stack.state, ignore_errors=True)
        shutil.rmtree(stack.postgres.dir, ignore_errors=True)
    best = {label: max(rates) for label, rates in results.items()}
    slowest = min(best.values())
    out = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{len(events)} events from {len(FILES)} real trip files; best of {args.repeat}",
        "| stage | events/s | x slowest stage |",
        "|---|---:|---:|",
    ]
    out += [f"| {label} | {rate:,.0f} | {rate / slowest:.1f} |" for label, rate in best.items()]
    Path(paths.LOCAL / "bench-last.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))  # noqa: T201 - a benchmark's report is its output


if __name__ == "__main__":
    main()
