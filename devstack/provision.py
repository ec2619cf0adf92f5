"""What the stack creates inside its running components: topics, database and schema, bucket and objects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from pathlib import Path

import asyncpg
from aiobotocore.session import get_session
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from devstack.errors import NotReady
from shared import topics
from shared.schema import apply_migrations

logger = logging.getLogger(__name__)


async def create_topics(
    bootstrap: str, partitions: int, replication: int = 1, deadline_s: float = 60, names: Iterable[str] = topics.ALL
) -> None:
    """Create the pipeline's topics (idempotent), retrying while the broker finishes starting."""
    end = time.monotonic() + deadline_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [NewTopic(n, partitions, replication) for n in names if n not in existing]
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(wanted)
                logger.info("created topics %s with %d partitions", [t.name for t in wanted], partitions)
            return
        except (KafkaConnectionError, KafkaError) as exc:
            if time.monotonic() > end:
                raise NotReady(f"kafka at {bootstrap}: could not create topics: {exc!r}") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


# Login roles of the local stack (trust authentication, so no passwords): the web only reads, the sink
# writes rows; both are members of the group roles migration 0030 creates and grants.
WEB_ROLE = "bikeshare_web"
SINK_ROLE = "bikeshare_sink"
_LOGIN_ROLES = {WEB_ROLE: "bikeshare_reader", SINK_ROLE: "bikeshare_writer"}


async def create_login_roles(admin_dsn: str) -> None:
    """Create the stack's login roles once per cluster (after the migrations made the group roles)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        for login, group in _LOGIN_ROLES.items():
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", login):
                with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
                    await conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE {group}")
        # Read-only by default as well: even a grant added by mistake cannot make the web write.
        await conn.execute(f"ALTER ROLE {WEB_ROLE} SET default_transaction_read_only = on")
    finally:
        await conn.close()


async def migrate(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


async def ensure_bucket(
    endpoint: str,
    bucket: str,
    access_key: str,
    secret_key: str,
    uploads: dict[str, Path] | None = None,
    deadline_s: float = 30,
) -> None:
    """Create `bucket` if missing and upload `{key: file}`; waits for SeaweedFS's S3 gateway to answer."""
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    ) as s3:
        end = time.monotonic() + deadline_s
        while True:
            try:
                names = {b["Name"] for b in (await s3.list_buckets())["Buckets"]}
                if bucket not in names:
                    await s3.create_bucket(Bucket=bucket)
                break
            except Exception as exc:  # the gateway answers 5xx until its filer is up
                if time.monotonic() > end:
                    raise NotReady(f"seaweedfs s3 at {endpoint}: bucket {bucket!r} not created: {exc}") from exc
                await asyncio.sleep(0.3)
        for key, path in (uploads or {}).items():
            await s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            logger.info("uploaded %s to s3://%s/%s", path.name, bucket, key)
