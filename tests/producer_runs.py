"""Helpers for the producer's stack tests: run it as a child process, and what the CSV files imply,
computed with the csv module and zoneinfo only (never with the producer's code)."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer

from devstack import paths
from devstack.stack import Stack
from services.producer.progress import wait_with_peak_rss
from tests.conftest import event_messages, eventually

NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class Finished:
    returncode: int
    stderr: str
    peak_rss_mb: float

    def summary(self) -> dict[str, Any]:
        for line in reversed(self.stderr.splitlines()):
            if '"summary"' in line:
                found: dict[str, Any] = json.loads(line)["summary"]
                return found
        raise AssertionError(f"no summary line in the producer's output:\n{self.stderr[-3000:]}")


def producer_env(stack: Stack, checkpoints: Path, **settings: str) -> dict[str, str]:
    env = stack.service_env("producer")
    # These tests check how trips become events; the opening stock (on by default) is checked by the
    # model's own tests (tests/unit/test_opening_stock.py and the differential replay test).
    env.update(
        {
            "BIKESHARE_CHECKPOINT_DIR": str(checkpoints),
            "BIKESHARE_LOG_FORMAT": "json",
            "BIKESHARE_METRICS_PORT": "0",
            "BIKESHARE_OPENING_STOCK": "false",
        }
    )
    env.update({f"BIKESHARE_{k.upper()}": v for k, v in settings.items()})
    return env


def corrupt_zip(source: Path) -> bytes:
    """A zip of `source` with zeroes in the middle of its deflate stream (zlib.error or a CRC mismatch)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(source, source.name)
    data = bytearray(buffer.getvalue())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    return bytes(data)


def start_producer(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """The producer as a child process, its log (stderr) going to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.producer", *args],
            env=env,
            cwd=paths.ROOT,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def finish(process: subprocess.Popen[bytes], log: Path, timeout_s: float = 600) -> Finished:
    """Wait for the child, reading its peak RSS from the kernel meanwhile: /proc/PID/status VmHWM, the
    high-water mark of the child's own memory, summed with its reading processes' (all polled until it
    exits; wait4's ru_maxrss would include this test process's memory, which the child had before its exec)."""
    code, peak = wait_with_peak_rss(process.pid, timeout_s)
    if code is None:
        process.send_signal(signal.SIGKILL)
        process.wait()
        raise AssertionError(f"the producer did not finish in {timeout_s}s:\n{log.read_text()[-3000:]}")
    process.returncode = code
    return Finished(process.returncode, log.read_text(), peak)


def run_producer(env: dict[str, str], log: Path, *args: str, timeout_s: float = 600) -> Finished:
    return finish(start_producer(env, log, *args), log, timeout_s)


def new_york_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).astimezone(UTC)


@dataclass(frozen=True)
class Trip:
    trip_id: str
    start_station: str
    end_station: str
    start: datetime
    end: datetime


def trips_of(text: str) -> list[Trip]:
    """The usable trips of one CSV document (rows ending before they start are not)."""
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    trips = []
    for row in rows:
        if "ride_id" in row:
            trip_id, start, end = row["ride_id"], row["started_at"], row["ended_at"]
            ids = row["start_station_id"], row["end_station_id"]
        else:
            start, end = row["starttime"], row["stoptime"]
            trip_id = f"bike:{row['bikeid']}@{start}"
            ids = row["start station id"], row["end station id"]
        trip = Trip(trip_id, ids[0], ids[1], new_york_utc(start), new_york_utc(end))
        if trip.end >= trip.start:
            trips.append(trip)
    return trips


def expected_sides(trips: Iterable[Trip]) -> set[tuple[str, str]]:
    return {(t.trip_id, kind) for t in trips for kind in ("start", "end")}


def decoded(messages: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(m.value) for m in messages]


def assert_one_partition_per_station(messages: list[Any]) -> None:
    """Every event of a station is in the same partition (what keying by station id gave per message)."""
    partitions: dict[str, set[int]] = {}
    for message in messages:
        station = json.loads(message.value)["station_id"] or ""
        partitions.setdefault(station, set()).add(message.partition)
    spread = {station: found for station, found in partitions.items() if len(found) > 1}
    assert not spread, f"stations in more than one partition: {spread}"


def assert_station_order(messages: list[Any]) -> None:
    """Within each station (the message key), event times never go back."""
    last: dict[bytes, datetime] = {}
    for message in messages:
        at = datetime.fromisoformat(json.loads(message.value)["event_time"])
        before = last.get(message.key)
        assert before is None or at >= before, f"station {message.key!r}: {at} after {before}"
        last[message.key] = at


async def read_sides(bootstrap: str, topic: str, expected: set[tuple[str, str]], containing: str) -> Counter[Any]:
    """How often each (trip id, kind) is on `topic` (messages containing `containing`; opening stock
    included), read until every expected one is there and then to the end of the topic, so duplicates
    are counted too."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    seen: Counter[Any] = Counter()
    try:

        async def complete() -> bool:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for messages in batch.values():
                for m in event_messages(messages):
                    if containing in m.value.decode():
                        event = json.loads(m.value)
                        seen[(event["trip_id"], event["kind"])] += 1
            return not batch and expected <= seen.keys()

        await eventually(f"{len(expected)} events on {topic}", complete, deadline_s=180, poll_s=0)
    finally:
        await consumer.stop()
    return seen
