"""The Postgres schema as numbered SQL migrations (`shared/migrations/NNNN_name.sql`).

`pending(applied)` is pure; services apply migrations through their own asyncpg connection with
`apply_migrations(conn)`, which takes an advisory lock so concurrent starters do not race.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x62696B65  # "bike": one advisory lock id for schema changes
NOTIFY_CHANNEL = "availability_changed"
"""The sink NOTIFYs this channel with the batch id after each committed micro-batch."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        version = int(path.name[:4])
        found.append(Migration(version, path.stem[5:], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {directory}: {versions}")
    return found


def pending(applied: set[int], directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return [m for m in migrations(directory) if m.version not in applied]


class Connection(Protocol):
    async def execute(self, query: str, *args: Any) -> str: ...
    async def fetch(self, query: str, *args: Any) -> list[Any]: ...
    def transaction(self) -> Any: ...


async def apply_migrations(conn: Connection) -> list[int]:
    """Apply what is missing, each migration in its own transaction; returns the versions applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        # Only when missing: a role that may write rows but not schema (the sink's) can then start
        # against a migrated database, and fails naming the privilege only if a migration is pending.
        if not (await conn.fetch("SELECT to_regclass('schema_migrations') IS NOT NULL AS found"))[0]["found"]:
            await conn.execute(
                "CREATE TABLE schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        applied = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        done = []
        for migration in pending(applied):
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            logger.info("applied migration %04d_%s", migration.version, migration.name)
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def current_version(conn: Connection) -> int:
    rows = await conn.fetch("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
    return int(rows[0]["v"])
