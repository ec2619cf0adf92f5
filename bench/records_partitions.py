"""What partitioning Records by month costs the sink, side by side in one run on one Postgres.

    .venv/bin/python -m bench.records_partitions [--batch 5000] [--empty-months 120]

Starts a Postgres of its own (free port) and writes the same clean events (the real trip files in
../shared/data through the producer's parsing and the enricher's normalisation, in event-time order, in
batches like the sink's) with `write_events` into three databases:

* **unpartitioned** (the baseline): the schema before migration 0060, the old statement (ON CONFLICT
  (event_id), no partition check);
* **partitioned**: every migration; the batch first makes the month partitions it needs;
* **partitioned + N empty months**: the same with N more (empty) month partitions, as after years of data.

Then, per batch of the same events staged the same way, each statement the partitioning added, alone:
the horizon check (`QUARANTINE_EXPIRED`, with no horizon and with one no event is older than) and the
partition check (`ENSURE_PARTITIONS`, with every month present and with one month to create), against
a bare `SELECT 1` round trip, the floor of any per-batch statement. Prints a table; each figure is the
median of the batches.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from unittest import mock

import asyncpg
import msgspec

from bench.stage_throughput import FILES, parse_all
from devstack import paths, provision
from devstack.components import Postgres
from devstack.stack import free_ports
from services.enricher.normalise import normalise
from services.enricher.stations import StationCatalogue
from services.spark_sink import model_sql
from services.spark_sink.postgres_writer import STAGING_COLUMNS, staging_row, write_events
from shared.events import CleanEvent, encode
from shared.schema import migrations

Row = tuple[object, ...]
UNPARTITIONED_INSERT = model_sql.INSERT_RECORDS.replace("ON CONFLICT (event_time, event_id)", "ON CONFLICT (event_id)")


def clean_rows() -> list[Row]:
    catalogue = StationCatalogue.from_gbfs(paths.ROOT / "data" / "stations" / "station_information.json")
    clean = [c for c in (normalise(encode(e), catalogue) for e in parse_all()) if isinstance(c, CleanEvent)]
    return [staging_row(msgspec.to_builtins(c)) for c in clean]


async def database(admin_dsn: str, name: str, below: int | None = None) -> str:
    """A new database with the migrations (those numbered below `below` only, when given)."""
    await provision.create_database(admin_dsn, name)
    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    if below is None:
        await provision.migrate(dsn)
        return dsn
    conn = await asyncpg.connect(dsn)
    try:
        for m in migrations():
            if m.version < below:
                await conn.execute(m.sql)
    finally:
        await conn.close()
    return dsn


async def timed_batches(targets: dict[str, tuple[str, bool]], batches: Sequence[list[Row]]) -> dict[str, list[float]]:
    """Seconds of `write_events` per batch for each target {label: (dsn, unpartitioned)}, the targets
    taking turns batch by batch so that a change of the machine's load falls on all of them alike."""
    conns = {label: await asyncpg.connect(dsn) for label, (dsn, _) in targets.items()}
    times: dict[str, list[float]] = {label: [] for label in targets}
    try:
        for n, rows in enumerate(batches):
            for label, (_, unpartitioned) in targets.items():
                with contextlib.ExitStack() as patches:
                    if unpartitioned:  # the statements as they were before migration 0060
                        patches.enter_context(mock.patch.object(model_sql, "INSERT_RECORDS", UNPARTITIONED_INSERT))
                        patches.enter_context(mock.patch.object(model_sql, "ENSURE_PARTITIONS", "SELECT 1"))
                        patches.enter_context(mock.patch.object(model_sql, "QUARANTINE_EXPIRED", "SELECT $1::int * 0"))
                    started = time.perf_counter()
                    await write_events(conns[label], n, rows)
                    times[label].append(time.perf_counter() - started)
    finally:
        for conn in conns.values():
            await conn.close()
    return times


async def per_batch(
    dsn: str, batches: Sequence[list[Row]], statement: str, prepare: str | None = None, *args: object
) -> list[float]:
    """The time of `statement` in each batch's transaction after its events are staged (and `prepare` run);
    rolled back."""
    conn = await asyncpg.connect(dsn)
    times = []
    try:
        for rows in batches:
            tr = conn.transaction()
            await tr.start()
            try:
                await conn.execute(model_sql.STAGE)
                await conn.copy_records_to_table("incoming", records=rows, columns=STAGING_COLUMNS)
                if prepare:
                    await conn.execute(prepare)
                started = time.perf_counter()
                await conn.execute(statement, *args)
                times.append(time.perf_counter() - started)
            finally:
                await tr.rollback()
    finally:
        await conn.close()
    return times


def ms(values: Sequence[float]) -> str:
    return f"{statistics.median(values) * 1000:.2f}"


async def run(batch: int, empty_months: int) -> list[str]:
    rows = clean_rows()
    rows.sort(key=lambda r: r[1])  # type: ignore[arg-type,return-value]  # event time: a replay's order
    batches = [rows[n : n + batch] for n in range(0, len(rows), batch)]
    months = sorted({(r[1].astimezone(UTC).year, r[1].astimezone(UTC).month) for r in rows})  # type: ignore[attr-defined]
    state = paths.LOCAL / "bench" / f"records-{uuid.uuid4().hex[:8]}"
    postgres = Postgres(state, free_ports(), state / "logs")
    postgres.start()
    try:
        postgres.wait_ready()
        admin = postgres.dsn_admin
        plain = await database(admin, "unpartitioned", below=60)
        parted = await database(admin, "partitioned")
        many = await database(admin, "many")
        conn = await asyncpg.connect(many)
        try:
            first = datetime(2010, 1, 1, tzinfo=UTC)
            extra = [first + timedelta(days=31 * k) for k in range(empty_months)]
            await conn.execute(
                "SELECT records_ensure_partitions(array("
                "SELECT DISTINCT date_trunc('month', t, 'UTC') FROM unnest($1::timestamptz[]) t))",
                extra,
            )
            partitions_many = await conn.fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass"
            )
        finally:
            await conn.close()

        write = await timed_batches(
            {
                "unpartitioned (before 0060)": (plain, True),
                f"partitioned ({len(months)} months)": (parted, False),
                f"partitioned ({partitions_many} months, {partitions_many - len(months)} empty)": (many, False),
            },
            batches,
        )
        ensure_present = await per_batch(parted, batches, model_sql.ENSURE_PARTITIONS)
        expired_none = await per_batch(parted, batches, model_sql.QUARANTINE_EXPIRED, None, 0)
        conn = await asyncpg.connect(parted)
        try:  # a horizon before every event: each row is compared, none is old
            await conn.execute("UPDATE records_horizon SET kept_from = '2000-01-01Z'")
            expired_kept = await per_batch(parted, batches, model_sql.QUARANTINE_EXPIRED, None, 0)
            await conn.execute("UPDATE records_horizon SET kept_from = NULL")
        finally:
            await conn.close()
        one_new_month = "UPDATE incoming SET event_time = '2070-01-15 12:00Z'"
        creating = await per_batch(parted, batches[:10], model_sql.ENSURE_PARTITIONS, prepare=one_new_month)
        floor = await per_batch(parted, batches, "SELECT 1")
    finally:
        postgres.stop()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(postgres.dir, ignore_errors=True)

    load = os.getloadavg()
    base = statistics.median(write["unpartitioned (before 0060)"])
    out = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {len(rows)} clean events from {len(FILES)} real "
        f"trip files in {len(batches)} batches of {batch} (event-time order), months {len(months)}",
        "| write_events per batch | median ms | x unpartitioned |",
        "|---|---:|---:|",
    ]
    out += [f"| {label} | {ms(t)} | {statistics.median(t) / base:.2f} |" for label, t in write.items()]
    out += [
        "",
        "| per batch, inside its transaction | median ms |",
        "|---|---:|",
        f"| horizon check, no horizon set (`QUARANTINE_EXPIRED`) | {ms(expired_none)} |",
        f"| horizon check, a horizon before every event | {ms(expired_kept)} |",
        f"| partition check, every month present (`ENSURE_PARTITIONS`) | {ms(ensure_present)} |",
        f"| partition check creating one month (10 batches, rolled back) | {ms(creating)} |",
        f"| `SELECT 1` round trip (the floor) | {ms(floor)} |",
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--empty-months", type=int, default=120)
    args = parser.parse_args()
    out = asyncio.run(run(args.batch, args.empty_months))
    print("\n".join(out))  # noqa: T201 - a benchmark's report is its output


if __name__ == "__main__":
    main()
