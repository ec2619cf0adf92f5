"""What every subcommand shares: exit codes, time arguments, Kafka clients, the progress line, refusals."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


class Exit(IntEnum):
    """Exit codes scripts can rely on (README, "Replaying topics")."""

    OK = 0
    """Done; the summary says what was done."""
    PARTIAL = 1
    """Done, but some records were skipped (undecodable for an event-time filter); the summary counts them."""
    BAD_INPUT = 2
    """Refused before writing anything: bad arguments, a truncated capture or one of another version, no such topic."""
    UNSAFE = 3
    """Refused before writing anything: the consumer group or sink is active, or the target topic is not empty."""
    UNREACHABLE = 4
    """Kafka could not be reached."""


class Refused(Exception):
    """The command will not run; `code` says why (BAD_INPUT or UNSAFE) and the message what to do."""

    def __init__(self, message: str, code: Exit = Exit.BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def parse_time(text: str) -> datetime:
    """ISO 8601 (a naive time is UTC), or milliseconds since the epoch."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(f"{text!r} is not a time: give ISO 8601 (2024-09-01T12:00:00Z) or epoch milliseconds") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class _Timed(msgspec.Struct):
    event_time: datetime


_time_decoder = msgspec.json.Decoder(_Timed)


def event_time(value: bytes | None) -> datetime | None:
    """The `event_time` of a TripEvent/CleanEvent payload, or None when it has none."""
    if value is None:
        return None
    try:
        return _time_decoder.decode(value).event_time
    except msgspec.DecodeError:
        return None


def consumer(bootstrap: str, **kwargs: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", **kwargs
    )


@asynccontextmanager
async def admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def partitions_of(kafka: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    # `topics()` fetches fresh metadata but does not refresh the consumer's cache: ask the client for it.
    cluster = await kafka._client.fetch_all_metadata()
    parts = cluster.partitions_for_topic(topic)
    if not parts:
        raise Refused(f"topic {topic!r} does not exist on this cluster (list them with `inspect lag`)")
    return [TopicPartition(topic, p) for p in sorted(parts)]


async def offsets_at(
    kafka: AIOKafkaConsumer, parts: list[TopicPartition], moment: datetime | None, default: dict[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """The first offset whose Kafka timestamp is >= `moment` per partition (`default` if none or no moment)."""
    if moment is None:
        return dict(default)
    found = await kafka.offsets_for_times({tp: to_ms(moment) for tp in parts})
    return {tp: (found[tp].offset if found.get(tp) is not None else default[tp]) for tp in parts}


class Progress:
    """One self-rewriting line on a terminal (every 0.5 s); nothing when stderr is not a terminal."""

    def __init__(self, what: str, total: int | None = None) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self.started = self._last = time.monotonic()
        self.enabled = sys.stderr.isatty()

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.5:
            self._last = now
            of = f"/{self.total}" if self.total is not None else ""
            rate = self.done / max(now - self.started, 1e-9)
            sys.stderr.write(f"\r{self.what}: {self.done}{of} ({rate:,.0f}/s) {note}\033[K")
            sys.stderr.flush()

    def close(self) -> float:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
        return time.monotonic() - self.started


async def group_states(client: AIOKafkaAdminClient, groups: list[str]) -> dict[str, tuple[str, int]]:
    """group -> (state, number of members), from the raw DescribeGroups responses aiokafka returns."""
    states: dict[str, tuple[str, int]] = {}
    for response in await client.describe_consumer_groups(groups):
        for group in response.to_object()["groups"]:
            states[group["group"]] = (group["state"], len(group["members"]))
    return states


async def start_consumer(kafka: AIOKafkaConsumer) -> None:
    """Start a consumer and let its background tasks begin: aiokafka's stop() right after start()
    cancels a task that never ran and raises CancelledError (aiokafka 0.14)."""
    await kafka.start()
    await asyncio.sleep(0)
