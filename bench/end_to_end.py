"""End-to-end throughput and latency of the whole pipeline on this machine, with its limits beside it.

    .venv/bin/python -m bench.end_to_end [--events 1000000] [--partitions 3] [--enrichers 1] [--spark-cores 2]

1. Builds about N events of trip files from the real samples (`bench/e2e_workload.py`) and puts them in S3.
2. Starts a private stack and the web, enricher(s) and sink; then the producer on all files, and measures
   producer start -> last record committed (events/s end to end), each stage's rate, consumer lag over
   time, CPU seconds and peak memory per process.
3. Latency phase: a paced file (`--latency-rate` events/s for `--latency-seconds`), publication (the raw
   record's timestamp) -> Postgres commit (NOTIFY receipt) and -> websocket receipt: p50/p95/p99.
4. The limits, services stopped: the broker's ProducerPerformance, raw COPY of the same rows, a plain
   aiokafka consume-transform-produce loop.

Prints a table (also written to .local/bench-e2e-last.md); the LAST line is exactly
`end-to-end: <N> events/s, p99 event→map <S> s`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import bytecode, e2e_limits, e2e_probes
from bench.e2e_workload import paced_file
from bench.workload import build_trip_files
from devstack import paths, provision
from devstack.process import ManagedProcess, wait_until
from devstack.services import http_ok, service_process
from devstack.stack import BUCKET, Stack, free_ports
from shared import topics


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--enrichers", type=int, default=1, help="enricher workers (one consumer group)")
    parser.add_argument("--spark-cores", type=int, default=2, help="local[N] for the sink")
    parser.add_argument("--latency-rate", type=int, default=2000, help="events/s in the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--skip-limits", action="store_true", help="leave out the machine's limits")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up on a phase after this")
    return parser.parse_args(argv)


COMPILED = {**bytecode.CACHE, **bytecode.WRITE}
"""services read and write their bytecode in the benchmarks' cache (`bench.bytecode`)"""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = Stack(paths.LOCAL / "bench" / f"e2e-{uuid.uuid4().hex[:8]}", free_ports(), args.partitions)
        self.services: list[ManagedProcess] = []
        self.watch = e2e_probes.ProcessWatch()
        self.receipts = e2e_probes.Receipts()
        self.lines: list[str] = []
        self.samples: list[e2e_probes.Sample] = []
        self.message_bytes = 0
        self.events_per_record = 1.0

    def env(self, name: str, **extra: str) -> dict[str, str]:
        return {**self.stack.service_env(name), **COMPILED, **extra}

    def compile_producer(self) -> None:
        """Write the bytecode of what the producer imports (an S3 target: aiobotocore too) before it is
        timed, as its image has it compiled (`UV_COMPILE_BYTECODE`, `compileall`): this environment sets
        PYTHONDONTWRITEBYTECODE, which made every start compile them from source (~1 s)."""
        code = (
            "import asyncio, services.producer.__main__, services.producer.replay, services.producer.read_workers\n"
            "from services.producer.sources.s3 import s3_client\n"
            "from services.producer.settings import ProducerSettings\n"
            "async def main():\n"
            "    async with s3_client(ProducerSettings()):\n"
            "        pass\n"
            "asyncio.run(main())\n"
        )
        subprocess.run([sys.executable, "-c", code], env=self.env("producer"), cwd=paths.ROOT, check=True)

    def start_services(self) -> None:
        stack = self.stack
        web = service_process("web", self.env("web"), stack.logs)
        sink = service_process(
            "spark_sink", self.env("spark_sink", BIKESHARE_SPARK_MASTER=f"local[{self.args.spark_cores}]"), stack.logs
        )
        enrichers = [
            ManagedProcess(
                f"enricher-{n}",
                [sys.executable, "-m", "services.enricher"],
                stack.logs / f"enricher-{n}.log",
                env=self.env("enricher", **({} if n == 0 else {"BIKESHARE_METRICS_PORT": "0"})),
                cwd=paths.ROOT,
            )
            for n in range(self.args.enrichers)
        ]
        for process in (web, *enrichers, sink):
            process.start()
            self.services.append(process)
        for component in (stack.kafka, stack.postgres, stack.s3):
            assert component.process.proc is not None
            self.watch.add(component.process.name, component.process.proc.pid)
        for process in self.services:
            assert process.proc is not None
            self.watch.add(process.name, process.proc.pid, "jvm" if process.name == "spark_sink" else None)
        wait_until("web", lambda: http_ok(f"http://127.0.0.1:{stack.ports.web}/health"), 120, alive=web.death)
        sink_health = f"http://127.0.0.1:{stack.ports.metrics('spark_sink')}/health"
        wait_until("spark sink", lambda: http_ok(sink_health), 300, alive=sink.death)

    def stop_services(self) -> None:
        for process in reversed(self.services):
            process.stop()

    def producer(self, *args: str) -> ManagedProcess:
        process = service_process("producer", self.env("producer"), self.stack.logs, *args)
        process.start()
        assert process.proc is not None
        self.watch.add("producer", process.proc.pid)
        return process

    async def wait_caught_up(self, probe: e2e_probes.Offsets, producer: ManagedProcess, what: str) -> None:
        """Until the producer has exited and the enricher and the sink have taken every message."""
        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline:
            self.watch.sample()
            s = await probe.sample()
            done = producer.proc is not None and producer.proc.poll() is not None
            if done and s.enricher_committed >= s.raw and s.sink_records >= s.clean and s.sink_caught_up and s.raw > 0:
                return
            for process in self.services:
                if (death := process.death()) is not None:
                    raise RuntimeError(f"{process.name} died during {what}: {death}")
            await asyncio.sleep(1.0)
        raise TimeoutError(f"{what}: not caught up after {self.args.timeout:.0f}s")

    async def run(self) -> None:
        args = self.args
        stack = self.stack
        load_before = os.getloadavg()
        upload_dir = stack.state / "workload"
        workload = build_trip_files(upload_dir / "throughput", args.events)  # helper "cluster"'s generator
        events = workload.events
        uploads = {f"bench/r/{path.name}": path for path in workload.files}
        paced = paced_file(int(args.latency_rate * args.latency_seconds), 3600.0, datetime(2024, 10, 1, 12, tzinfo=UTC))
        uploads[paced.key] = upload_dir / paced.key
        uploads[paced.key].parent.mkdir(parents=True, exist_ok=True)
        uploads[paced.key].write_bytes(paced.body)
        await provision.ensure_bucket(stack.s3.endpoint, BUCKET, stack.access_key, stack.secret_key, uploads)
        self.start_services()
        self.compile_producer()
        checkpoint = Path(self.env("spark_sink")["BIKESHARE_SPARK_CHECKPOINT_DIR"])
        probe = e2e_probes.Offsets(stack.kafka.bootstrap, "bikeshare-enricher", stack.postgres_dsn, checkpoint)
        self.samples = probe.samples
        await probe.start()
        stop = asyncio.Event()
        listeners = [
            asyncio.create_task(e2e_probes.listen_commits(stack.postgres_dsn, self.receipts, stop)),
            asyncio.create_task(
                e2e_probes.listen_websocket(f"ws://127.0.0.1:{stack.ports.web}/ws", self.receipts, stop)
            ),
        ]
        try:
            # Phase 1: throughput.
            self.watch.sample()
            cpu_before = self.watch.snapshot()
            started, started_wall = time.monotonic(), time.time()
            producer = self.producer("--prefix", "bench/r")
            await self.wait_caught_up(probe, producer, "the throughput phase")
            finished = await self.last_commit(started, started_wall)
            self.watch.sample()
            cpu_after = self.watch.snapshot()
            throughput = probe.samples[-1]
            # Phase 2: latency, paced.
            raw_start = await probe.ends(topics.RAW)
            producer = self.producer(paced.key, "--speedup", f"{3600.0 / args.latency_seconds:g}")
            await self.wait_caught_up(probe, producer, "the latency phase")
            raw_end = await probe.ends(topics.RAW)
            await asyncio.sleep(2)  # let the last websocket push arrive
        finally:
            stop.set()
            await asyncio.gather(*listeners, return_exceptions=True)
            await probe.stop()
            self.stop_services()
        published, _ = await e2e_probes.publication_times(stack.kafka.bootstrap, raw_start, raw_end)
        # The throughput phase's frames: their mean size and events per record, for the broker tool's run.
        firsts = {tp: 0 for tp in raw_start}
        framed, self.message_bytes = await e2e_probes.publication_times(stack.kafka.bootstrap, firsts, raw_start)
        self.events_per_record = len(framed) / max(1, sum(raw_start.values()))
        batches = await e2e_probes.batch_of_events(stack.postgres_dsn, published)
        to_commit, to_map = self.latencies(published, batches)
        limits = None if args.skip_limits else await self.limits(throughput.raw, events)
        self.report(
            events, started, finished, throughput, cpu_before, cpu_after, to_commit, to_map, limits, load_before
        )

    async def last_commit(self, started: float, started_wall: float) -> float:
        """When the throughput phase's last batch committed (monotonic): its NOTIFY, received right after
        the commit, rather than the moment the 1 s poll noticed it; the poll's time if none was received."""
        noticed = time.monotonic()
        conn = await asyncpg.connect(self.stack.postgres_dsn)
        try:
            last = await conn.fetchval("SELECT max(batch_id) FROM sink_batches WHERE inserted > 0")
        finally:
            await conn.close()
        for _ in range(40):  # its notification sent but not yet read: 2 s at most
            if last in self.receipts.committed:
                break
            await asyncio.sleep(0.05)
        at = self.receipts.committed.get(last)
        return started + (at - started_wall) if at is not None and at >= started_wall else noticed

    def latencies(self, published: dict[str, float], batches: dict[str, int]) -> tuple[list[float], list[float]]:
        pushed = sorted(self.receipts.pushed.items())
        to_commit, to_map = [], []
        for event_id, sent in published.items():
            batch = batches.get(event_id)
            if batch is None:
                continue
            if (committed := self.receipts.committed.get(batch)) is not None:
                to_commit.append(committed - sent)
            # The first push that covers this batch (a slow client may get later batches coalesced).
            seen = next((at for b, at in pushed if b >= batch), None)
            if seen is not None:
                to_map.append(seen - sent)
        return to_commit, to_map

    async def limits(self, raw_messages: int, events: int) -> dict[str, float]:
        stack = self.stack
        size = max(1, self.message_bytes)  # the raw topic's mean record (frame) size in the throughput phase
        found: dict[str, float] = {}
        per_record = self.events_per_record
        records = await asyncio.to_thread(
            e2e_limits.producer_perf, stack.kafka, max(1000, min(events, 500_000) // max(1, int(per_record))), size
        )
        label = f"Kafka ProducerPerformance (acks=all, lz4), {size:,}-byte records x {per_record:.0f} events each"
        found[label] = records * per_record
        rows, rate = await e2e_limits.raw_copy(stack.postgres_dsn)
        found[f"Postgres raw COPY of the {rows:,} records rows"] = rate
        rate, cpu = await e2e_limits.aiokafka_loop(stack.kafka.bootstrap, raw_messages)
        found[f"plain aiokafka consume-normalise-produce loop ({cpu:.0f} µs CPU/event)"] = rate
        return found

    def report(
        self,
        events: int,
        started: float,
        finished: float,
        last: e2e_probes.Sample,
        cpu_before: dict[str, float],
        cpu_after: dict[str, float],
        to_commit: list[float],
        to_map: list[float],
        limits: dict[str, float] | None,
        load_before: tuple[float, float, float],
    ) -> None:
        args = self.args
        seconds = finished - started
        rate = last.sink_events / seconds if seconds else 0.0
        out = self.lines
        out.append(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"load average before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
            f"after {os.getloadavg()[0]:.1f}/{os.getloadavg()[1]:.1f}/{os.getloadavg()[2]:.1f}"
        )
        out.append(
            f"{events:,} events in {last.raw:,} raw records (frames), {last.clean:,} clean records, "
            f"{last.sink_events:,} events written, {last.dead:,} dead letters; "
            f"{args.partitions} partitions, {args.enrichers} enricher worker(s), Spark local[{args.spark_cores}]"
        )
        out += ["", "| stage | events/s | seconds |", "|---|---:|---:|"]
        out.append(f"| end to end: producer start -> last record committed | {rate:,.0f} | {seconds:.1f} |")
        for label, attr in (
            ("producer -> raw topic", "raw"),
            ("enricher -> clean topic + dead letters", "clean"),
            ("sink -> Postgres", "sink_events"),
        ):
            first, done = self.stage_span(attr, started, finished)
            # Spans from the records' movement; totals in events (every event ends written or dead-lettered).
            total = last.sink_events + (last.dead if attr != "sink_events" else 0)
            span = done - first
            out.append(f"| {label} | {total / span if span > 0 else 0:,.0f} | {span:.1f} |")
        out += ["", "| process | CPU s | CPU µs/event | peak RSS MB |", "|---|---:|---:|---:|"]
        total_cpu = 0.0
        for name, use in sorted(self.watch.use.items()):
            cpu = cpu_after.get(name, use.cpu_s) - cpu_before.get(name, 0.0)
            total_cpu += cpu
            per_event = cpu / events * 1e6 if events else 0.0
            out.append(f"| {name} | {cpu:.1f} | {per_event:.0f} | {use.peak_rss / 1e6:.0f} |")
        out.append(f"| all | {total_cpu:.1f} | {total_cpu / events * 1e6 if events else 0:.0f} | |")
        out += [
            "",
            "consumer lag in records (enricher = raw end - committed; sink = clean end - checkpointed), every 5 s:",
        ]
        out.append(
            "  "
            + " ".join(
                f"{s.at - started:.0f}s:{max(0, s.raw - s.enricher_committed)}/{max(0, s.clean - s.sink_records)}"
                for s in self.samples_every(5.0, started, finished)
            )
        )
        out += ["", "| latency (paced phase) | events | p50 s | p95 s | p99 s |", "|---|---:|---:|---:|---:|"]
        for label, values in (("publication -> Postgres commit", to_commit), ("publication -> websocket", to_map)):
            p50, p95, p99 = e2e_probes.percentiles(values)
            out.append(f"| {label} | {len(values):,} | {p50:.2f} | {p95:.2f} | {p99:.2f} |")
        if limits:
            out += ["", "| limit of this machine (same run, services stopped) | events/s | x end to end |"]
            out.append("|---|---:|---:|")
            for label, value in limits.items():
                out.append(f"| {label} | {value:,.0f} | {value / rate if rate else 0:.1f} |")
        p99_map = e2e_probes.percentiles(to_map)[2]
        out += ["", f"end-to-end: {rate:.0f} events/s, p99 event→map {p99_map:.1f} s"]

    def stage_span(self, attr: str, started: float, finished: float) -> tuple[float, float]:
        samples = self.samples_in(started, finished)
        if not samples:
            return started, finished
        final = getattr(samples[-1], attr)
        first = next((s.at for s in samples if getattr(s, attr) > 0), started)
        done = next((s.at for s in samples if getattr(s, attr) >= final), finished)
        return first, done

    def samples_in(self, started: float, finished: float) -> list[e2e_probes.Sample]:
        return [s for s in self.samples if started <= s.at <= finished + 0.5]

    def samples_every(self, step: float, started: float, finished: float) -> list[e2e_probes.Sample]:
        picked: list[e2e_probes.Sample] = []
        for s in self.samples_in(started, finished):
            if not picked or s.at - picked[-1].at >= step:
                picked.append(s)
        return picked


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench = Bench(args)
    bench.stack.start()
    try:
        asyncio.run(bench.run())
    finally:
        bench.stop_services()
        bench.stack.stop()
        # The services' logs outlive the run (the sink's per-batch timings explain its latency figures).
        shutil.copytree(bench.stack.logs, paths.LOCAL / "bench-e2e-logs", dirs_exist_ok=True)
        shutil.rmtree(bench.stack.state, ignore_errors=True)
        shutil.rmtree(bench.stack.postgres.dir, ignore_errors=True)
    text = "\n".join(bench.lines)
    Path(paths.LOCAL / "bench-e2e-last.md").write_text(text + "\n")
    print(text)  # noqa: T201 - a benchmark's report is its output


if __name__ == "__main__":
    main()
