"""The producer at scale against real Kafka: memory stays bounded whatever the input size, a run killed
with SIGKILL resumes with no gap, and shards cover every row exactly once.

The inputs are generated from the real trip files (bench/producer_workload.write_workload: months
following each other, the 2021 rows unsorted). The full 2-million-event memory check is marked `scale`
and runs with BIKESHARE_SCALE_TESTS=1; CI runs the 200,000-event variant with proportionally small runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from bench.producer_workload import write_workload
from devstack.stack import Stack
from services.producer.progress import descendants
from shared import topics
from tests.conftest import eventually
from tests.producer_runs import (
    expected_sides,
    finish,
    producer_env,
    read_sides,
    run_producer,
    start_producer,
    trips_of,
)

pytestmark = pytest.mark.stack


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (an orphan waiting for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def expected_of(files: list[Path]) -> set[tuple[str, str]]:
    return expected_sides(trip for path in files for trip in trips_of(path.read_text()))


async def test_resume_after_sigkill_leaves_no_gap(stack: Stack, tmp_path: Path) -> None:
    workload = write_workload(tmp_path / "in", 60_000)
    expected = expected_of(workload.files)
    checkpoints = tmp_path / "checkpoints"
    env = producer_env(stack, checkpoints, window_events="1000", run_events="10000", read_workers="2")
    log = tmp_path / "producer.log"
    process = start_producer(env, log, str(tmp_path / "in"))

    async def published_some() -> int:
        positions = list(checkpoints.glob("*/position.json"))
        return json.loads(positions[0].read_text())["published"] if positions else 0

    killed_at = await eventually("the producer published its first window", published_some, 300, poll_s=0.05)
    process.send_signal(signal.SIGKILL)
    killed = await asyncio.to_thread(finish, process, log)
    assert killed.returncode == -signal.SIGKILL
    assert killed_at < len(expected), "the run ended before it could be killed; make the workload bigger"

    resumed = await asyncio.to_thread(run_producer, env, tmp_path / "resumed.log", str(tmp_path / "in"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = resumed.summary()
    assert summary["resumed_from"] >= killed_at > 0
    items = len(expected) + summary["bad_rows"] + summary["stock_events"]
    assert summary["resumed_from"] + summary["published"] == items
    assert not list(checkpoints.iterdir()), "a finished run removes its checkpoint"

    seen = await read_sides(stack.kafka.bootstrap, topics.RAW, expected, containing=str(tmp_path / "in"))
    assert {side for side in seen if side[1] != "stock"} == expected  # no gap
    resent = sum(seen.values()) - len(seen)
    assert resent <= 2 * 1000 + 1000, f"{resent} events sent twice: more than the windows in flight"


async def test_a_kill_while_two_workers_read_restarts_reading_and_leaves_no_gap(stack: Stack, tmp_path: Path) -> None:
    # enough that the reading lasts a while: at about 500,000 events/s, 60,000 events were read in about
    # 0.1 s, and the moment when both readers had written a run and were still alive could fall between looks
    workload = write_workload(tmp_path / "in", 300_000)
    expected = expected_of(workload.files)
    checkpoints = tmp_path / "checkpoints"
    env = producer_env(stack, checkpoints, run_events="1000", read_workers="2")
    log = tmp_path / "producer.log"
    process = start_producer(env, log, str(tmp_path / "in"))

    async def both_workers_spilled() -> list[int]:
        spilled = {run.name[:6] for run in checkpoints.glob("*/run-w*.arrow")}
        return descendants(process.pid) if spilled == {"run-w0", "run-w1"} else []

    try:
        readers = await eventually("both reading processes wrote a run", both_workers_spilled, 300, poll_s=0.05)
    except BaseException:  # a failed look leaves no producer behind for the next test
        process.kill()
        process.wait()
        raise
    process.send_signal(signal.SIGKILL)
    killed = await asyncio.to_thread(finish, process, log)
    assert killed.returncode == -signal.SIGKILL
    assert not list(checkpoints.glob("*/position.json")), "killed while reading: no position saved yet"

    async def readers_gone() -> bool:
        return not any(running(pid) for pid in readers)

    await eventually("the reading processes exited with their parent", readers_gone, 30)
    resumed = await asyncio.to_thread(run_producer, env, tmp_path / "resumed.log", str(tmp_path / "in"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = resumed.summary()
    assert summary["resumed_from"] == 0  # reading starts again from scratch
    assert summary["read_workers"] == 2
    assert summary["published"] == len(expected) + summary["bad_rows"]
    seen = await read_sides(stack.kafka.bootstrap, topics.RAW, expected, containing=str(tmp_path / "in"))
    assert set(seen) == expected
    assert max(seen.values()) == 1  # nothing was published before the kill


async def test_shards_cover_every_row_exactly_once(stack: Stack, tmp_path: Path) -> None:
    workload = write_workload(tmp_path / "in", 20_000)
    expected = expected_of(workload.files)
    env = producer_env(stack, tmp_path / "checkpoints", opening_stock="true")  # each station's stock from one shard
    shards = 3
    logs = [tmp_path / f"shard{index}.log" for index in range(shards)]
    running = [
        start_producer(env, log, str(tmp_path / "in"), "--shard", f"{index}/{shards}") for index, log in enumerate(logs)
    ]  # at the same time, as on N machines
    summaries = []
    for process, log in zip(running, logs, strict=True):
        result = await asyncio.to_thread(finish, process, log)
        assert result.returncode == 0, result.stderr[-3000:]
        summaries.append(result.summary())
    assert all(s["published"] > 0 for s in summaries)
    stock = sum(s["stock_events"] for s in summaries)
    bad = sum(s["bad_rows"] for s in summaries)
    assert sum(s["published"] for s in summaries) == len(expected) + bad + stock

    seen = await read_sides(stack.kafka.bootstrap, topics.RAW, expected, containing=str(tmp_path / "in"))
    assert {side for side in seen if side[1] != "stock"} == expected
    assert max(seen.values()) == 1  # trips and opening stock: each from exactly one shard
    assert sum(n for side, n in seen.items() if side[1] == "stock") == stock


async def bounded_memory(stack: Stack, tmp_path: Path, events: int, run_events: int) -> tuple[float, int]:
    workload = write_workload(tmp_path / "in", events)
    env = producer_env(stack, tmp_path / "checkpoints", run_events=str(run_events), read_workers="2")
    started = time.monotonic()
    result = await asyncio.to_thread(run_producer, env, tmp_path / "producer.log", str(tmp_path / "in"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.summary()["events"] >= events - 8 * len(workload.files)  # a few rows end before they start
    runs = next(json.loads(line)["msg"] for line in result.stderr.splitlines() if "sorted runs" in line)
    own = result.summary()["peak_rss_mb"]
    print(f"{events} events, runs of {run_events}: peak RSS {result.peak_rss_mb:.0f} MB (own {own:.0f}), {runs}")  # noqa: T201
    print(f"{time.monotonic() - started:.0f}s, load average {os.getloadavg()}")  # noqa: T201
    return result.peak_rss_mb, events // run_events


async def test_memory_stays_bounded_on_a_200k_event_input(stack: Stack, tmp_path: Path) -> None:
    peak, runs = await bounded_memory(stack, tmp_path, 200_000, 20_000)
    assert runs >= 10
    # the sum of the peaks: the producer (about 250 MB: Python, aiokafka, pyarrow, the merge's batches) and two
    # reading processes (about 200 MB each of Python, numpy, pyarrow and a chunk's columns, plus one run of
    # 20,000 events, 9 MB) and the resource tracker: fixed costs, whatever the input's size
    assert 0 < peak < 800, f"peak RSS {peak:.0f} MB"


@pytest.mark.scale
@pytest.mark.skipif(not os.environ.get("BIKESHARE_SCALE_TESTS"), reason="set BIKESHARE_SCALE_TESTS=1 (minutes)")
async def test_memory_stays_bounded_on_a_2m_event_input(stack: Stack, tmp_path: Path) -> None:
    peak, runs = await bounded_memory(stack, tmp_path, 2_000_000, 150_000)
    assert runs >= 6
    assert peak < 1000, f"peak RSS {peak:.0f} MB (the producer and its reading processes)"
