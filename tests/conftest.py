"""Fixtures for the real components: a local stack (Kafka, Postgres, SeaweedFS) per session, one shared
SparkSession, and helpers that wait on conditions with deadlines (never on fixed sleeps)."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from devstack import paths, provision
from devstack.stack import Stack, free_ports

SHARED = paths.ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"


def start_stack(name: str) -> Stack:
    state = paths.LOCAL / "tests" / f"{name}-{uuid.uuid4().hex[:8]}"
    stack = Stack(state, free_ports())
    stack.start()
    return stack


def stop_stack(stack: Stack) -> None:
    stack.stop()
    shutil.rmtree(stack.state, ignore_errors=True)
    shutil.rmtree(stack.postgres.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The shared stack; tests that need a pristine pipeline start their own with `start_stack`."""
    started = start_stack("session")
    try:
        yield started
    finally:
        stop_stack(started)


@pytest.fixture(scope="session")
def spark(stack: Stack) -> Iterator[Any]:
    from services.spark_sink.session import build_session
    from services.spark_sink.settings import SparkSinkSettings

    settings = SparkSinkSettings.model_validate(
        {
            "kafka_bootstrap_servers": stack.kafka.bootstrap,
            "postgres_dsn": stack.postgres_dsn,
            "spark_jars_dir": paths.SPARK_JARS,
            "spark_checkpoint_dir": stack.state / "unused-checkpoint",
        }
    )
    session = build_session(settings, app_name="bikeshare-tests")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
async def fresh_database(stack: Stack) -> AsyncIterator[str]:
    """A new, migrated database on the shared Postgres; returns its DSN."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    await provision.create_database(stack.postgres.dsn_admin, name)
    dsn = stack.postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
    await provision.migrate(dsn)
    yield dsn
    conn = await asyncpg.connect(stack.postgres.dsn_admin)
    try:
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def eventually(
    what: str, probe: Callable[[], Awaitable[Any]], deadline_s: float = 60, poll_s: float = 0.25
) -> Any:
    """Await `probe()` until it returns something truthy; fail naming `what` and the last value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    last: Any = None
    while loop.time() < end:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(poll_s)
    pytest.fail(f"{what}: not true after {deadline_s:.0f}s (last value {last!r})")


def shared_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests expect ../shared beside the repository")
    return path


@dataclass(frozen=True)
class EventMessage:
    """One event of a topic, as a test sees it: a record holding one event, or one element of a frame (a
    record whose value is a JSON array of events). `key` is the record's key, or for a frame element
    (frames have none) the event's station id; `index` is the element's place in its frame."""

    topic: str
    partition: int
    offset: int
    index: int
    key: bytes
    value: bytes
    timestamp: int
    framed: bool


def event_messages(records: Iterable[Any]) -> list[EventMessage]:
    """Records of a topic, frames split into their events (decoded with plain `json`, no project code)."""
    out = []
    for m in records:
        data = json.loads(m.value)
        framed = isinstance(data, list)
        for index, event in enumerate(data if framed else [data]):
            value = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() if framed else m.value
            station = event.get("station_id") if isinstance(event, dict) else None
            key = m.key if m.key is not None else (station or "").encode()
            out.append(EventMessage(m.topic, m.partition, m.offset, index, key, value, m.timestamp, framed))
    return out


async def read_topic(bootstrap: str, topic: str, at_least: int, containing: str = "") -> list[Any]:
    """Events of `topic` from the earliest offset (those whose value contains `containing`; frames split
    into their events, `EventMessage`), once at least `at_least` of them are there."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        max_poll_records=5000,
    )
    await consumer.start()
    found: list[Any] = []
    try:

        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                found.extend(m for m in event_messages(messages) if containing in m.value.decode())
            return len(found) >= at_least

        await eventually(f"{at_least} messages on {topic}", enough, deadline_s=120)
    finally:
        await consumer.stop()
    return found


# The end-to-end pipeline, run once per session for every test that asks for it (imported last: it
# uses the helpers above).
from tests.e2e_pipeline import e2e_stack, pipeline  # noqa: E402, F401
