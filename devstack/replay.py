"""`./dev replay FILE... --out DIR [--at TIMESTAMP]...`: the whole pipeline on local trip files, once.

A fresh stack of its own (Kafka, Postgres, S3 on free ports, state in a new directory), the files uploaded
to S3, the enricher and the Spark sink started, the producer run; then it waits until every raw event
has come out of the enricher (clean or dead-lettered) and the sink's checkpoint has committed the clean
topic's end, writes

* `DIR/availability.csv`  station_id, name, lat, lon, bikes, ebikes, capacity, docks (current state);
* `DIR/availability_at_<T>.csv`  the same at each `--at` moment, from the history (stations seen by then);
* `DIR/frequency.csv`  minute (ISO 8601 with its New York UTC offset), amount (trips started);
* `DIR/summary.json`  rows, trips, events published, dead letters by stage and reason, records, stations,
  unmatched stations, rebalanced bikes, and how each service ended;

stops everything it started, removes its state, and exits 1 if any service failed (their log tails are
printed and copied to `DIR/logs/`), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from devstack import paths, provision
from devstack.components import Ports
from devstack.errors import StackError
from devstack.process import ManagedProcess
from devstack.replay_outputs import write_outputs
from devstack.replay_progress import Progress, read_progress
from devstack.services import service_process
from devstack.stack import BUCKET, Stack, free_ports
from shared.logs import configure_logging

logger = logging.getLogger("devstack.replay")
NEW_YORK = ZoneInfo("America/New_York")
SERVICES = ("enricher", "spark_sink")


def parse_moment(text: str) -> datetime:
    """ISO 8601; without an offset it is New York wall-clock time, like the trip files."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2018-01-15T08:00)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=NEW_YORK)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./dev replay", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("files", nargs="+", type=Path, help="trip files (.csv or .zip of CSVs)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSV files and summary.json")
    parser.add_argument(
        "--at", type=parse_moment, action="append", default=[], help="also write the state at this moment (repeatable)"
    )
    parser.add_argument("--port-base", type=int, default=0, help="first of 32 ports (default: any free range)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the pipeline to drain")
    parser.add_argument("--keep-state", action="store_true", help="keep the stack's state directory (debugging)")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    return args


class Replay:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state = paths.LOCAL / "replay" / uuid.uuid4().hex[:10]
        self.keys = [f"replay/{i:03d}-{f.name}" for i, f in enumerate(args.files)]
        self.services: list[ManagedProcess] = []
        self.failures: dict[str, str] = {}

    def run(self) -> int:
        ports = free_ports() if self.args.port_base == 0 else Ports(self.args.port_base)
        stack = Stack(self.state, ports)
        stack.start()
        try:
            return self._run(stack)
        finally:
            for proc in reversed(self.services):
                proc.stop()
            stack.stop()
            if not self.args.keep_state:
                shutil.rmtree(self.state, ignore_errors=True)
                shutil.rmtree(stack.postgres.dir, ignore_errors=True)

    def _run(self, stack: Stack) -> int:
        uploads = dict(zip(self.keys, (f.resolve() for f in self.args.files), strict=True))
        asyncio.run(provision.ensure_bucket(stack.s3.endpoint, BUCKET, stack.access_key, stack.secret_key, uploads))
        for name in SERVICES:
            env = {**stack.service_env(name), "BIKESHARE_TRIGGER_SECONDS": "2"}
            proc = service_process(name, env, stack.logs)
            proc.start()
            self.services.append(proc)
        started = time.monotonic()
        producer = subprocess.run(
            [sys.executable, "-m", "services.producer", *self.keys],
            env=stack.service_env("producer"),
            cwd=paths.ROOT,
            stdout=(stack.logs / "producer.log").open("ab"),
            stderr=subprocess.STDOUT,
            check=False,
        )
        if producer.returncode != 0:
            self.failures["producer"] = f"exited with code {producer.returncode}"
        logger.info(
            "producer done in %.0fs (exit %d); waiting for the pipeline to drain",
            time.monotonic() - started,
            producer.returncode,
        )
        progress = self._wait_drained(stack)
        logger.info("drained in %.0fs: %s", time.monotonic() - started, progress)
        self.args.out.mkdir(parents=True, exist_ok=True)
        status = {name: self.failures.get(name, "ok") for name in ("producer", *SERVICES)}
        asyncio.run(
            write_outputs(
                stack.postgres_dsn,
                stack.kafka.bootstrap,
                self.args.out,
                self.args.at,
                progress,
                self.args.files,
                status,
            )
        )
        if self.failures:
            self._report_failures(stack)
            return 1
        return 0

    def _wait_drained(self, stack: Stack) -> Progress:
        end = time.monotonic() + self.args.timeout
        checkpoint = Path(stack.service_env("spark_sink")["BIKESHARE_SPARK_CHECKPOINT_DIR"])
        progress = asyncio.run(read_progress(stack.kafka.bootstrap, checkpoint, stack.postgres_dsn))
        while not progress.drained:
            for proc in self.services:
                if (death := proc.death()) is not None and proc.name not in self.failures:
                    self.failures[proc.name] = death.splitlines()[0]
            if any(name in self.failures for name in SERVICES):
                return progress
            if time.monotonic() > end:
                self.failures["replay"] = f"not drained after {self.args.timeout:.0f}s: {progress}"
                return progress
            time.sleep(1.0)
            progress = asyncio.run(read_progress(stack.kafka.bootstrap, checkpoint, stack.postgres_dsn))
        return progress

    def _report_failures(self, stack: Stack) -> None:
        logs = self.args.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name, why in self.failures.items():
            logger.error("%s failed: %s", name, why)
            log = stack.logs / f"{name}.log"
            if log.exists():
                shutil.copy(log, logs / log.name)
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                sys.stderr.write(f"--- last lines of {name}.log (copied to {logs}) ---\n{tail}\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("INFO", "text")
    try:
        return Replay(args).run()
    except StackError as exc:
        logger.error("%s", exc)
        return 1


def summary_of(out: Path) -> dict[str, Any]:
    """The summary a replay wrote (for tests and tools)."""
    loaded: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return loaded


if __name__ == "__main__":
    sys.exit(main())
