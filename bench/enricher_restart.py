"""How long a restarted enricher stalls after `kill -9`: kill -> first clean event published again.

    .venv/bin/python -m bench.enricher_restart

On a private stack, for each configuration (faust's old defaults: 60 s session; the new 10 s session;
10 s session plus static membership via BIKESHARE_ENRICHER_INSTANCE_ID) in a consumer group of its own:
start a worker, let it clean a first batch, kill -9 it, start a new worker at once while events keep
arriving, and time kill -> the clean topic growing again.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
import uuid

from aiokafka import AIOKafkaProducer

from bench.e2e_probes import Offsets
from devstack import paths
from devstack.process import ManagedProcess
from devstack.stack import Stack, free_ports
from shared import topics
from tests.bad_input_kinds import raw_event

CONFIGS = {
    "60 s session (faust default), dynamic member": {
        "BIKESHARE_SESSION_TIMEOUT_S": "60",
        "BIKESHARE_REBALANCE_TIMEOUT_S": "60",
    },
    "10 s session (new default), dynamic member": {},
    "10 s session + static membership (instance id)": {"BIKESHARE_ENRICHER_INSTANCE_ID": "enricher-0"},
}


async def feed(bootstrap: str, stop: asyncio.Event) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    n = 0
    try:
        while not stop.is_set():
            for _ in range(50):
                doc = raw_event(n, event_id=str(uuid.uuid4()))
                await producer.send(topics.RAW, json.dumps(doc).encode(), key=str(doc["station_id"]).encode())
                n += 1
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()


async def clean_count(probe: Offsets) -> int:
    return sum((await probe.ends(topics.CLEAN)).values())


async def one(stack: Stack, name: str, extra: dict[str, str]) -> float:
    group = f"restart-{uuid.uuid4().hex[:6]}"
    env = {**stack.service_env("enricher"), "BIKESHARE_APP_ID": group, "BIKESHARE_METRICS_PORT": "0", **extra}
    probe = Offsets(stack.kafka.bootstrap, group, stack.postgres_dsn)
    await probe.start()
    stop = asyncio.Event()
    feeding = asyncio.create_task(feed(stack.kafka.bootstrap, stop))
    first = ManagedProcess(
        f"{group}-a",
        [sys.executable, "-m", "services.enricher"],
        stack.logs / f"{group}-a.log",
        env=env,
        cwd=paths.ROOT,
    )
    second = ManagedProcess(
        f"{group}-b",
        [sys.executable, "-m", "services.enricher"],
        stack.logs / f"{group}-b.log",
        env=env,
        cwd=paths.ROOT,
    )
    try:
        first.start()
        base = await clean_count(probe)
        # clean records are frames of up to 500 events: a few of them show the worker is running
        while await clean_count(probe) < base + 5:  # noqa: ASYNC110 - polling another process's output
            await asyncio.sleep(0.2)
        assert first.proc is not None
        os.killpg(first.proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        first.proc.wait()
        second.start()
        await asyncio.sleep(1.0)
        stalled_at = await clean_count(probe)
        while await clean_count(probe) <= stalled_at:
            if time.monotonic() - killed > 180:
                return float("inf")
            await asyncio.sleep(0.1)
        return time.monotonic() - killed
    finally:
        stop.set()
        await feeding
        second.stop()
        await probe.stop()


async def run(stack: Stack) -> list[str]:
    lines = [
        f"load average {os.getloadavg()[0]:.1f}",
        "| configuration | kill -9 -> clean events flow again (s) |",
        "|---|---:|",
    ]
    for name, extra in CONFIGS.items():
        lines.append(f"| {name} | {await one(stack, name, extra):.1f} |")
    return lines


def main() -> None:
    stack = Stack(paths.LOCAL / "bench" / f"restart-{uuid.uuid4().hex[:8]}", free_ports())
    stack.start()
    try:
        lines = asyncio.run(run(stack))
    finally:
        stack.stop()
        shutil.rmtree(stack.state, ignore_errors=True)
        shutil.rmtree(stack.postgres.dir, ignore_errors=True)
    print("\n".join(lines))  # noqa: T201 - a benchmark's report is its output


if __name__ == "__main__":
    main()
