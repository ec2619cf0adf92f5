"""Producer throughput into the local Kafka broker, side by side in one run, with peak memory.

    .venv/bin/python -m bench.producer_throughput [--events 2000000] [--naive-events 20000] [--workers 1,2]
        [--row-workers 2] [--repeats 3]

Builds a workload of at least `--events` events from the real trip files in ../shared/data (the
2021 Jersey City file - rows not in time order - and the January 2018 NYC file, copied month after
month with times shifted so the months follow each other, unique trip ids), starts a private stack
(Kafka, Postgres, SeaweedFS on free ports) and measures, each against its own fresh topic:

* the producer itself (`python -m services.producer DIR`, a child process), once per `--workers` count
  (BIKESHARE_READ_WORKERS, default 1 then 2): events/s from start to exit (start-up, reading, sorting and
  publishing) and of each phase, and the peak RSS of the producer plus its reading processes. Its
  modules' bytecode is compiled beforehand (into .local/pycache, `PYTHONPYCACHEPREFIX`, by a warm-up run
  on two files), as the image has it (`UV_COMPILE_BYTECODE=1`, `compileall`): this environment sets
  PYTHONDONTWRITEBYTECODE, so without that every run compiles numpy, pyarrow, aiokafka and pydantic from
  source (about 1 s of CPU); the last `--workers` count runs once more that way (`--no-uncompiled` skips it);
* the same with the row-by-row reading (BIKESHARE_COLUMNAR_READING=false: the csv module, one
  `TripEvent` pair per row) with `--row-workers` reading processes (0: skip), the reading before the
  columnar one;
* a naive baseline: one `send_and_wait` per event, on `--naive-events` events (extrapolated, labelled);
* the broker's own tool, `kafka-producer-perf-test` (org.apache.kafka.tools.ProducerPerformance from
  the broker's jars) with the same number of records, the workload's mean message size, acks=all and
  idempotence.

The runs are interleaved, `--repeats` rounds (default 3) of (the broker tool, every producer run), then the
tool once more: on a shared 2-core VM the same program moves by 15-30 % from one minute to the next (the
tool has run anywhere between 290,000 and 610,000 records/s here), so one run of each, or the faster of
two tool runs against one producer run, says more about the moment than about the programs. Every run's
figure is in the notes; the table gives the medians and the ratios of the medians, and a last line the
ratio against the fastest and the slowest tool run. The 1-minute load average is read before each run.

The workload comes from `bench.producer_workload` (the producer's scale tests use it too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench import bytecode
from bench.producer_workload import Workload, write_workload
from devstack import paths
from devstack.stack import Stack, free_ports
from services.producer.progress import wait_with_peak_rss
from services.producer.row_reader import Plausible, read_document
from shared import topics
from shared.events import TripEvent, encode

COMPILED = bytecode.CACHE
"""the producer reads its modules' bytecode from the benchmarks' cache (`bench.bytecode`), filled by `warm_up`"""
UNCOMPILED = {"PYTHONDONTWRITEBYTECODE": "1"}
"""every module compiled from source at every start (what this environment does by default)"""


def warm_up(stack: Stack, workload: Workload, directory: Path) -> None:
    """Compile the bytecode of every module the producer and its reading processes import, by a producer run
    (two reading processes) on the workload's first two files, allowed to write it."""
    directory.mkdir(parents=True)
    for path in workload.files[:2]:
        shutil.copy(path, directory / path.name)
    env = {**COMPILED, **bytecode.WRITE}
    producer_run(stack, directory, directory.parent / "warm-up.log", env, opening_stock="false", read_workers="2")


def producer_run(
    stack: Stack, directory: Path, log: Path, bytecode: dict[str, str], **settings: str
) -> tuple[float, dict[str, Any], float]:
    """(wall seconds, the producer's summary, its peak RSS in MB) of one full producer run; the peak is the
    sum of /proc/PID/status VmHWM of the producer and its reading processes, polled until it exits
    (wait4's ru_maxrss would include this process's memory)."""
    env = {
        **stack.service_env("producer"),
        **bytecode,
        "BIKESHARE_CHECKPOINT_DIR": str(directory.parent / "checkpoints"),
        "BIKESHARE_LOG_FORMAT": "json",
        "BIKESHARE_METRICS_PORT": "0",
        **{f"BIKESHARE_{k.upper()}": v for k, v in settings.items()},
    }
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.producer", str(directory)], env=env, cwd=paths.ROOT, stderr=out
        )
        code, peak = wait_with_peak_rss(process.pid)
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the producer failed; see {log}")
    summary = next(json.loads(line)["summary"] for line in log.read_text().splitlines() if '"summary"' in line)
    return seconds, summary, peak


def payloads(directory: Path, count: int) -> list[tuple[bytes, bytes]]:
    """(key, encoded event) of the workload's first `count` events, for the naive baseline."""
    out: list[tuple[bytes, bytes]] = []
    for path in sorted(directory.glob("*.csv")):
        with path.open("rb") as f:
            for item in read_document(str(path), f, Plausible()):
                if isinstance(item, TripEvent):
                    out.append(((item.station_id or "").encode(), encode(item)))
                    if len(out) >= count:
                        return out
    return out


async def naive(bootstrap: str, events: list[tuple[bytes, bytes]]) -> float:
    """events/s of one `send_and_wait` per event (idempotent, acks=all, like the producer)."""
    kafka = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await kafka.start()
    try:
        started = time.perf_counter()
        for key, value in events:
            await kafka.send_and_wait(topics.RAW, value, key=key)
        return len(events) / (time.perf_counter() - started)
    finally:
        await kafka.stop()


def broker_tool(stack: Stack, records: int, size: int) -> float:
    """records/s of the broker's own kafka-producer-perf-test with the producer's settings."""
    result = subprocess.run(
        [
            stack.kafka.java,
            "-Xmx512m",
            "-cp",
            stack.kafka.classpath,
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            f"bench.perf.{uuid.uuid4().hex[:6]}",
            "--num-records",
            str(records),
            "--record-size",
            str(size),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={stack.kafka.bootstrap}",
            "acks=all",
            "enable.idempotence=true",
            "linger.ms=20",
            f"batch.size={1024 * 1024}",
            "compression.type=none",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return float(re.findall(r"([\d.]+) records/sec", result.stdout)[-1])


@dataclass(frozen=True)
class Run:
    workers: int
    columnar: bool = True
    codec: str = ""
    compiled: bool = True

    @property
    def label(self) -> str:
        label = f"{self.workers} reading processes" if self.workers > 1 else "1 reader (a thread)"
        label += "" if self.columnar else ", row by row (csv module)"
        label += f", {self.codec} batches" if self.codec else ""
        return label + ("" if self.compiled else ", no bytecode cache (modules compiled at start-up)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--naive-events", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2", help="reading processes per producer run")
    parser.add_argument("--row-workers", type=int, default=2, help="reading processes of the row-by-row run (0: none)")
    parser.add_argument(
        "--compression",
        default="",
        help="also run the producer (last --workers count) with these batch compressions, e.g. none,lz4",
    )
    parser.add_argument("--no-uncompiled", action="store_true", help="skip the run without compiled bytecode")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds of (broker tool, every producer run), then the tool once more; medians are reported",
    )
    args = parser.parse_args()
    plan = [Run(int(n)) for n in args.workers.split(",")]
    last = plan[-1].workers
    plan += [Run(last, codec=codec) for codec in args.compression.split(",") if codec]
    plan += [] if args.no_uncompiled else [Run(last, compiled=False)]
    plan += [Run(args.row_workers, columnar=False)] if args.row_workers else []
    root = paths.LOCAL / "bench" / f"producer-{uuid.uuid4().hex[:8]}"
    workload = write_workload(root / "in", args.events)
    sample = payloads(root / "in", args.naive_events)
    size = round(sum(len(v) for _, v in sample) / len(sample))
    stack = Stack(root / "stack", free_ports())
    stack.start()
    runs: dict[Run, list[Measured]] = {run: [] for run in plan}
    tools: list[tuple[float, float]] = []
    try:
        warm_up(stack, workload, root / "warm-up")
        load_before = os.getloadavg()
        for _ in range(args.repeats):  # interleaved, so that the machine's ups and downs reach both alike
            tools.append(tool_run(stack, 2 * workload.rows, size))
            for run in plan:
                runs[run].append(measure(stack, root, run))
        tools.append(tool_run(stack, 2 * workload.rows, size))
        naive_rate = asyncio.run(naive(stack.kafka.bootstrap, sample))
        load_after = os.getloadavg()
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(stack.postgres.dir, ignore_errors=True)
    report = render(workload, plan, runs, tools, naive_rate, len(sample), size, load_before, load_after)
    (paths.LOCAL / "bench-producer.md").write_text(report)
    print(report, end="")  # noqa: T201 - a benchmark's report is its output


@dataclass(frozen=True)
class Measured:
    seconds: float
    summary: dict[str, Any]
    peak_mb: float
    load: float


def tool_run(stack: Stack, records: int, size: int) -> tuple[float, float]:
    """(load average before, records/s) of one run of the broker tool, the page cache written back first."""
    os.sync()
    return os.getloadavg()[0], broker_tool(stack, records, size)


def measure(stack: Stack, root: Path, run: Run) -> Measured:
    """One producer run, the page cache written back first: the broker's writeback of the run before (the
    tool writes about 750 MB) does not land in this one."""
    os.sync()
    load = os.getloadavg()[0]
    log = root / f"producer-{run.workers}-{run.columnar}-{run.codec}-{run.compiled}.log"
    settings = {"producer_compression": run.codec} if run.codec else {}
    seconds, summary, peak = producer_run(
        stack,
        root / "in",
        log,
        COMPILED if run.compiled else UNCOMPILED,
        opening_stock="false",
        read_workers=str(run.workers),
        columnar_reading=str(run.columnar).lower(),
        **settings,
    )
    return Measured(seconds, summary, peak, load)


def render(
    workload: Workload,
    plan: list[Run],
    runs: dict[Run, list[Measured]],
    tools: list[tuple[float, float]],
    naive_rate: float,
    naive_events: int,
    size: int,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> str:
    """The report: medians of the interleaved runs, each run's figure in the notes, ratios of medians."""
    events = runs[plan[0]][0].summary["events"]
    tool_rates = [rate for _, rate in tools]
    tool_rate = statistics.median(tool_rates)

    def each(rates: list[float]) -> str:
        return ", ".join(f"{rate:,.0f}" for rate in rates)

    rows = []
    for run in plan:
        measured = runs[run]
        whole = [events / m.seconds for m in measured]
        reading = [events / m.summary["read_seconds"] for m in measured]
        publishing = [m.summary["published"] / m.summary["publish_seconds"] for m in measured]
        seconds = statistics.median(m.seconds for m in measured)
        peak = max(m.peak_mb for m in measured)
        loads = ", ".join(f"{m.load:.1f}" for m in measured)
        rows += [
            (
                f"producer, whole run, {run.label}",
                statistics.median(whole),
                f"{seconds:.1f} s; runs {each(whole)}; peak RSS ≤ {peak:.0f} MB (sum); load {loads}",
            ),
            (
                f"  reading phase (parse, check, sort runs), {run.label}",
                statistics.median(reading),
                f"{statistics.median(m.summary['read_seconds'] for m in measured):.1f} s",
            ),
            (
                f"  publishing phase (merge + send), {run.label}",
                statistics.median(publishing),
                f"{statistics.median(m.summary['publish_seconds'] for m in measured):.1f} s",
            ),
        ]
    rows.append(
        (
            f"naive: one send_and_wait per event ({naive_events:,} events, extrapolated)",
            naive_rate,
            f"≈{events / naive_rate:,.0f} s for all",
        )
    )
    rows.append(
        (
            "broker's kafka-producer-perf-test (same count, size, acks, idempotent), before each round and after",
            tool_rate,
            f"{size} B records; runs {each(tool_rates)}; load {', '.join(f'{load:.1f}' for load, _ in tools)}",
        )
    )
    deployed = statistics.median(events / m.seconds for m in runs[_deployed(plan)])
    out = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{events:,} events ({workload.rows:,} rows, {len(workload.files)} monthly files) built from the real "
        f"samples; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; each figure is the median "
        f"of {len(next(iter(runs.values())))} runs interleaved with {len(tools)} runs of the broker tool; "
        "broker tool ÷ this: of the medians",
        "| what | events/s | x naive | broker tool / this | notes |",
        "|---|---:|---:|---:|---|",
    ]
    out += [
        f"| {label} | {rate:,.0f} | {rate / naive_rate:.1f} | {tool_rate / rate:.2f} | {note} |"
        for label, rate, note in rows
    ]
    fastest, slowest = max(tool_rates), min(tool_rates)
    out.append(
        f"against the fastest tool run ({fastest:,.0f}) the producer's median ({_deployed(plan).label}) is "
        f"{fastest / deployed:.2f}x under it; against the slowest ({slowest:,.0f}), {slowest / deployed:.2f}x"
    )
    return "\n".join(out) + "\n"


def _deployed(plan: list[Run]) -> Run:
    """The producer as deployed: columnar, compiled, default compression, the most reading processes."""
    runs = [run for run in plan if run.columnar and run.compiled and not run.codec]
    return max(runs, key=lambda run: run.workers) if runs else plan[0]


if __name__ == "__main__":
    main()
