"""Records retention: drop whole month partitions of Records and move the dedup horizon with them.

    ./dev records-drop --before 2019-01     # drop the months before January 2019
    ./dev records-drop                      # keep BIKESHARE_RECORDS_RETENTION_MONTHS months (unset: keep all)
    ./dev records-drop --keep-months 6 --dry-run

(`./dev records-drop` is `python -m services.spark_sink.records_retention`.) A retention of N months keeps
the month of the data's clock (`max(sink_batches.max_event_time)`, the latest event time committed) and
the N-1 months before it: the clock, not the wall clock, because a replay of 2019 files is as new to
the pipeline as today's trips. Months are UTC calendar months, the partitions' bounds.

The work is migration 0060's `records_drop_before()`: one transaction that moves `records_horizon` and
drops the partitions; from then on the sink refuses (quarantines) events older than the horizon instead of
inserting them a second time. It needs the schema owner's DSN (`--dsn` or BIKESHARE_POSTGRES_DSN): the
sink's and the web's roles cannot drop tables. The availability model's tables are not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import asyncpg
from pydantic import Field

from shared.settings import ServiceSettings, load_settings

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class RetentionSettings(ServiceSettings):
    postgres_dsn: str | None = Field(default=None, description="the schema owner's DSN (drops tables)")
    records_retention_months: int | None = Field(
        default=None, ge=1, description="months of Records kept, the data clock's month included; unset: all"
    )


@dataclass(frozen=True)
class Partition:
    name: str
    month: datetime
    rows: int
    """Postgres's estimate (pg_class.reltuples), -1 when never analysed: counting would read every row."""


def parse_month(text: str) -> datetime:
    """'2019-01' as the start of that UTC month."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month: write YYYY-MM, e.g. 2019-01")
    return datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=UTC)


def horizon_for(clock: datetime, keep_months: int) -> datetime:
    """The first month kept when `keep_months` months are kept up to and including the clock's month."""
    if keep_months < 1:
        raise ValueError(f"keep_months must be at least 1, not {keep_months}")
    utc = clock.astimezone(UTC)
    index = utc.year * 12 + (utc.month - 1) - (keep_months - 1)
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


async def partitions(conn: asyncpg.Connection) -> list[Partition]:
    rows = await conn.fetch(
        "SELECT c.relname AS name, c.reltuples::bigint AS rows FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'records'::regclass AND c.relname ~ '^records_\\d{4}_\\d{2}$' ORDER BY c.relname"
    )
    found = []
    for row in rows:
        year, month = row["name"].removeprefix("records_").split("_")
        found.append(Partition(row["name"], datetime(int(year), int(month), 1, tzinfo=UTC), int(row["rows"])))
    return found


async def horizon(conn: asyncpg.Connection) -> datetime | None:
    """The first month Records keeps (events before it are refused), or None when nothing was dropped."""
    value: datetime | None = await conn.fetchval("SELECT kept_from FROM records_horizon")
    return value


async def data_clock(conn: asyncpg.Connection) -> datetime | None:
    value: datetime | None = await conn.fetchval("SELECT max(max_event_time) FROM sink_batches")
    return value


async def drop_before(conn: asyncpg.Connection, before: datetime) -> list[str]:
    """Drop every month partition before `before` (a UTC month start) and move the horizon there."""
    dropped: list[str] = await conn.fetchval("SELECT records_drop_before($1)", before)
    return dropped


def say(line: str, stream: TextIO | None = None) -> None:
    """The command's output: results on stdout, failures on stderr."""
    (stream or sys.stdout).write(line + "\n")


async def run(dsn: str, before: datetime | None, keep_months: int | None, dry_run: bool) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        if before is None:
            if keep_months is None:
                say("records: no retention set (BIKESHARE_RECORDS_RETENTION_MONTHS): every month is kept")
                return []
            clock = await data_clock(conn)
            if clock is None:
                say("records: no batch committed yet (sink_batches is empty): nothing to drop")
                return []
            before = horizon_for(clock, keep_months)
            say(f"records: data clock {clock.isoformat()}, keeping {keep_months} month(s) from {before:%Y-%m}")
        doomed = [p.name for p in await partitions(conn) if p.month < before]
        if dry_run:
            say(f"records: would drop {len(doomed)} partition(s) before {before:%Y-%m}: {', '.join(doomed) or '-'}")
            return doomed
        dropped = await drop_before(conn, before)
        kept_from = await horizon(conn)
        say(
            f"records: dropped {len(dropped)} partition(s): {', '.join(dropped) or '-'}; "
            f"horizon {kept_from:%Y-%m} (events before it are refused by the sink)"
            if kept_from
            else "records: nothing dropped"
        )
        return dropped
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev records-drop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=parse_month, help="drop the months before this one (YYYY-MM, UTC)")
    parser.add_argument("--keep-months", type=int, help="override BIKESHARE_RECORDS_RETENTION_MONTHS")
    parser.add_argument("--dsn", help="the schema owner's Postgres DSN (default: BIKESHARE_POSTGRES_DSN)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be dropped, drop nothing")
    args = parser.parse_args(argv)
    settings = load_settings(RetentionSettings)
    dsn = args.dsn or settings.postgres_dsn
    if not dsn:
        parser.error("no database: pass --dsn or set BIKESHARE_POSTGRES_DSN (the schema owner's DSN)")
    keep = args.keep_months if args.keep_months is not None else settings.records_retention_months
    if keep is not None and keep < 1:
        parser.error(f"--keep-months must be at least 1, not {keep}")
    try:
        asyncio.run(run(dsn, args.before, keep, args.dry_run))
    except asyncpg.InsufficientPrivilegeError as exc:
        say(f"records: {exc}: connect as the schema owner (the role that ran the migrations)", sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        say(f"records: postgres at {dsn.rsplit('@', 1)[-1]}: {type(exc).__name__}: {exc}", sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
