"""Connecting to Postgres with a clear failure (for the services that have asyncpg: spark_sink, web)."""

from __future__ import annotations

import asyncpg


async def connect(dsn: str, connect_timeout_s: float = 10) -> asyncpg.Connection:
    """Connect, or exit naming the server and the variable to fix."""
    try:
        return await asyncpg.connect(dsn, timeout=connect_timeout_s)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise SystemExit(
            f"postgres at {dsn.split('@')[-1]} is unreachable ({exc}); start it (`./dev up`) "
            "or fix BIKESHARE_POSTGRES_DSN"
        ) from exc
