"""`python -m devstack {up,demo}`: the local stack (and the demo) in the foreground; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from devstack import paths
from devstack.components import Ports
from devstack.errors import StackError
from devstack.process import ManagedProcess
from devstack.provision import ensure_bucket
from devstack.services import LONG_RUNNING, http_ok, service_process
from devstack.stack import BUCKET, Stack, free_ports
from shared.logs import configure_logging

logger = logging.getLogger("devstack")

SAMPLE_KEY = "demo/202409-citibike-tripdata-sample.csv"
FIRST_BATCH_DEADLINE_S = 300
SERVICE_ENV_KEYS = ("BIKESHARE_", "AWS_", "SPARK_LOCAL_IP", "PYSPARK_PYTHON")


def _wait_for_ctrl_c(watch: Sequence[ManagedProcess] = ()) -> None:
    """Block until Ctrl-C or SIGTERM, reporting (once) any watched process that dies meanwhile."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    alive = list(watch)
    while not stop.wait(1.0):
        for proc in list(alive):
            if (death := proc.death()) is not None:
                logger.error("%s %s", proc.name, death)
                alive.remove(proc)


def _first_batch_visible(url: str) -> bool:
    """True once `/api/stations` lists a station (the sink has committed a batch the map can show)."""
    try:
        with urllib.request.urlopen(url + "api/stations", timeout=2) as response:
            return bool(json.load(response).get("stations"))
    except (OSError, ValueError):
        return False


def _wait_for_first_batch(url: str, producer: subprocess.Popen[bytes], services: Sequence[ManagedProcess]) -> bool:
    """Wait (at most FIRST_BATCH_DEADLINE_S) for the first batch; False, with the reason logged, if none came."""
    logger.info("replaying the sample; the map's URL follows once the first batch is on it")
    end = time.monotonic() + FIRST_BATCH_DEADLINE_S
    while time.monotonic() < end:
        if _first_batch_visible(url):
            return True
        for proc in services:
            if (death := proc.death()) is not None:
                logger.error("%s %s: no batch will reach the map", proc.name, death)
                return False
        if producer.poll() not in (None, 0):
            logger.error("the producer failed (exit %d); no batch will reach the map", producer.returncode)
            return False
        time.sleep(0.5)
    logger.error(
        "no batch on the map after %ds; see the logs in %s", FIRST_BATCH_DEADLINE_S, services[0].log_path.parent
    )
    return False


def demo(stack: Stack) -> None:
    """Start the services, replay the bundled sample once, keep serving the map until Ctrl-C."""
    sample = paths.SAMPLE_DIR / Path(SAMPLE_KEY).name
    asyncio.run(ensure_bucket(stack.s3.endpoint, BUCKET, stack.access_key, stack.secret_key, {SAMPLE_KEY: sample}))
    running: list[ManagedProcess] = []
    producer: subprocess.Popen[bytes] | None = None
    try:
        for name in LONG_RUNNING:
            proc = service_process(name, stack.service_env(name), stack.logs)
            proc.start()
            running.append(proc)
        web = running[-1]
        url = f"http://127.0.0.1:{stack.ports.web}/"
        web.wait_ready(lambda: http_ok(url + "health"), 60)
        producer = subprocess.Popen(
            [sys.executable, "-m", "services.producer", SAMPLE_KEY], env=stack.service_env("producer"), cwd=paths.ROOT
        )
        # The map's URL only once the first batch is visible on it: before that the page would be empty.
        shown = "" if _wait_for_first_batch(url, producer, running) else " (no data on it: see the errors above)"
        print(f"\n  Map{shown}: {url}\n  Logs: {stack.logs}\n  Ctrl-C stops everything.\n", flush=True)  # noqa: T201
        if (code := producer.wait()) != 0:
            logger.error("the producer failed (exit %d); see its output above", code)
        _wait_for_ctrl_c(running)
    finally:
        if producer is not None and producer.poll() is None:
            producer.terminate()
            producer.wait(30)
        for proc in reversed(running):
            proc.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["cluster"]:
        from devstack import cluster_demo

        configure_logging("INFO", "text")
        return cluster_demo.main(argv[1:])
    if argv[:1] == ["check"]:
        from devstack.preflight import check_environment

        configure_logging("INFO", "text")
        try:
            for warning in check_environment(os.environ):
                logger.warning("%s", warning)
        except StackError as exc:
            logger.error("%s", exc)
            return 1
        print("kafka and spark master reachable", flush=True)  # noqa: T201
        return 0
    if argv[:1] == ["chaos"]:
        from devstack import chaos

        configure_logging("INFO", "text")
        return chaos.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "demo"], help="up: the stack only; demo: stack + services + replay")
    parser.add_argument("--state", type=Path, default=paths.LOCAL / "demo", help="state directory")
    parser.add_argument(
        "--port-base",
        type=int,
        default=int(os.environ.get("BIKESHARE_STACK_PORT_BASE", "19100")),
        help="first of the 32 ports the stack uses (0: any free range)",
    )
    parser.add_argument("--env-file", type=Path, help="write the services' environment here (for `source`)")
    args = parser.parse_args(argv)
    configure_logging("INFO", "text")
    try:
        stack = Stack(args.state, free_ports() if args.port_base == 0 else Ports(args.port_base))
        stack.start()
    except StackError as exc:
        logger.error("%s", exc)
        return 1
    try:
        env = {k: v for k, v in stack.service_env().items() if k.startswith(SERVICE_ENV_KEYS)}
        if args.env_file:
            args.env_file.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items())))
        if args.command == "demo":
            demo(stack)
        else:
            print("stack is up; Ctrl-C stops it", flush=True)  # noqa: T201
            _wait_for_ctrl_c([stack.kafka.process, stack.s3.process, stack.postgres.process])
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
