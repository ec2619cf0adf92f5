"""`./dev chaos`: replay real trip events through `./dev cluster` while SIGKILLing its processes.

From a printed seed it plans kills at random moments of the replay: the producer, an enricher worker,
the Spark driver (the sink), a Spark worker, a web replica, the Kafka broker leading the most
partitions, and Postgres (while the sink is writing a batch). The cluster's supervisor restarts each
victim after a pause. Per kill it reports when, how long until the process was ready again and until
the pipeline flowed again; after the drain it checks the outcome (`chaos_checks`) and ends with
`chaos: <N> lost, <M> duplicated, tables <equal|DIFFER>`.

    ./dev chaos                              # 200,000 events, one kill of each kind
    ./dev chaos --events 400000 --kills 14 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import shutil
import time
from pathlib import Path

import asyncpg

from bench.workload import build_trip_files, expected_events
from devstack import paths
from devstack.chaos_checks import Verdict, verify
from devstack.chaos_plan import KINDS, ChaosReport, Kill, plan
from devstack.chaos_probes import Progress, ProgressMonitor, WsFollower, advanced, consumed
from devstack.cluster import APP_ID, BUCKET, Cluster, cluster_ports_from
from devstack.kafka_cluster import leading_broker
from devstack.provision import ensure_bucket
from shared import topics

PREFIX = "chaos/"
FLOW_WAIT_S = 20.0
QUIET_LIMIT_S = 300.0
SETTLE_S = 30.0
# A write of the sink in flight: a transaction that has begun writing (COPY, INSERT, a staging table),
# running a statement or between two of them.
_SINK_WRITING = """
SELECT count(*) FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND datname = 'bikeshare' AND xact_start IS NOT NULL
  AND state IN ('active', 'idle in transaction')
  AND (query ILIKE 'COPY%' OR query ILIKE '%INSERT%' OR query ILIKE 'CREATE TEMP%' OR query ILIKE '%incoming%')
"""


class ChaosRun:
    def __init__(self, cluster: Cluster, files: list[Path], expected: int, seed: int, kills: list[Kill]) -> None:
        self.cluster, self.files, self.expected, self.seed, self.kills = cluster, files, expected, seed, kills
        self.rng = random.Random(seed + 1)
        self.monitor = ProgressMonitor(cluster.kafka.bootstrap, cluster.postgres_dsn, APP_ID)
        self.follower = WsFollower(cluster.web_urls()[-1])
        self.t0 = time.monotonic()

    def _target(self, kind: str) -> str:
        c = self.cluster
        if kind == "producer":
            return "producer"
        if kind == "enricher":
            return f"enricher-{self.rng.randint(1, c.enrichers)}"
        if kind == "spark_driver":
            return "spark_sink"
        if kind == "spark_worker":
            return self.rng.choice([w.name for w in c.workers]) if c.workers else ""
        if kind == "web":
            return "web-1"  # the websocket client follows the last replica, which stays up
        if kind == "broker":
            leader = leading_broker(c.kafka.bootstrap, [topics.RAW, topics.CLEAN])
            return f"kafka-{leader or self.rng.randint(1, 3)}"
        return "postgres"

    async def _during_a_write(self) -> str:
        """Wait (at most 180 s) until the sink is writing a batch, so Postgres dies in the middle of it."""
        conn = await asyncpg.connect(self.cluster.postgres.dsn_admin.rsplit("/", 1)[0] + "/bikeshare")
        try:
            end = time.monotonic() + 180
            while time.monotonic() < end:
                if await conn.fetchval(_SINK_WRITING):
                    return "while a batch was being written"
                await asyncio.sleep(0.02)
            return "no batch write seen within 180 s: killed anyway"
        finally:
            await conn.close()

    async def _kill(self, kill: Kill) -> None:
        kill.target = await asyncio.to_thread(self._target, kill.kind)
        entry = self.cluster.supervisor.entries.get(kill.target)
        if entry is None or entry.process.proc is None or entry.process.proc.poll() is not None:
            kill.note = f"skipped: {kill.target or kill.kind} not running"
            return
        if kill.kind == "postgres":
            kill.note = await self._during_a_write()
        if kill.kind == "broker":
            kill.note = "leads the most partitions"
        kill.before = self.monitor.latest
        kill.killed_s = time.monotonic()
        kill.at_s = kill.killed_s - self.t0
        kill.incident = self.cluster.supervisor.kill(kill.target, kill.pause_s)

    @staticmethod
    def _recovering(kill: Kill, now: float) -> bool:
        """Kills are one at a time: the next waits until this one's victim is back and the data flows
        again (or FLOW_WAIT_S after it is back, so one slow recovery does not hold up the rest)."""
        inc = kill.incident
        if inc is None:
            return False
        if inc.ready_at is None:
            return True
        return kill.flowing_s is None and now - inc.ready_at < FLOW_WAIT_S

    def _flowing(self, kill: Kill, now: Progress) -> bool:
        """The pipeline moves again past the victim (or there is nothing left to move)."""
        inc = kill.incident
        if inc is None or inc.ready_at is None or kill.before is None:
            return False
        if now.records is not None and now.records >= self.expected:
            return True
        if kill.kind == "producer":
            return advanced(kill.before.raw, now.raw)
        if kill.kind == "enricher":
            # The enrichers' group commits past the kill on every raw partition: the victim's partitions
            # have a consumer again (its restart or, after the session timeout, the other worker).
            return consumed(kill.before.committed, now.committed, now.raw)
        if kill.kind == "broker":
            producing = advanced(kill.before.raw, now.raw) or self.cluster.supervisor.entries["producer"].finished
            return producing and consumed(kill.before.committed, now.committed, now.raw)
        if kill.kind == "web":
            return True
        return now.records is not None and kill.before.records is not None and now.records > kill.before.records

    async def run(self, drain_timeout_s: float) -> None:
        await self.monitor.start()
        await self.follower.start()
        try:
            t0 = self.t0 = time.monotonic()
            give_up = t0 + max(k.planned_s for k in self.kills) + drain_timeout_s if self.kills else t0
            pending = list(self.kills)
            while pending or any(k.flowing_s is None and k.killed_s is not None for k in self.kills):
                now = time.monotonic()
                if now > give_up:
                    for k in pending:
                        k.note = "not done: the previous victim never recovered"
                    break
                for k in self.kills:
                    if k.killed_s is not None and k.flowing_s is None and self._flowing(k, self.monitor.latest):
                        k.flowing_s = now
                busy = any(self._recovering(k, now) for k in self.kills)
                if pending and not busy and now - t0 >= pending[0].planned_s:
                    await self._kill(pending.pop(0))
                await asyncio.sleep(0.1)
            await self._drain(drain_timeout_s)
        finally:
            await self.monitor.stop()

    async def _settle(self) -> None:
        """Give the last batch's push (at most SETTLE_S) to reach the websocket client."""
        end = time.monotonic() + SETTLE_S
        while time.monotonic() < end:
            try:
                conn = await asyncpg.connect(self.cluster.postgres_dsn)
                try:
                    rows = await conn.fetch("SELECT station_id, bikes FROM availability WHERE bikes > 0")
                finally:
                    await conn.close()
                if {r["station_id"]: r["bikes"] for r in rows} == {
                    s: b for s, b in self.follower.state.items() if b > 0
                }:
                    return
            except (OSError, asyncpg.PostgresError):
                pass
            await asyncio.sleep(1)

    async def _drain(self, timeout_s: float) -> None:
        """Until Records holds the workload and has stopped changing, or nothing moved for QUIET_LIMIT_S
        (a loaded machine's Spark batch of 100,000+ events may take minutes)."""
        end = time.monotonic() + timeout_s
        last, still_since = -1, time.monotonic()
        producer = self.cluster.supervisor.entries["producer"]
        while time.monotonic() < end:
            records = self.monitor.latest.records
            if records != last:
                last, still_since = records if records is not None else -1, time.monotonic()
            quiet = time.monotonic() - still_since
            if producer.finished and last >= self.expected and quiet > 8:
                return
            if producer.finished and quiet > QUIET_LIMIT_S:
                return
            await asyncio.sleep(0.5)

    async def finish(self) -> Verdict:
        await self._settle()
        await self.follower.stop()
        return await verify(self.cluster.postgres_dsn, self.files, self.cluster.web_urls(), self.follower.state)


def run_chaos(
    events: int,
    kills: int,
    seed: int,
    state: Path,
    port_base: int = 0,
    replay_s: float | None = None,
    drain_timeout_s: float = 600,
    keep: bool = False,
) -> ChaosReport:
    """Build the workload, start a fresh cluster, run the chaos, check, stop; returns the report."""
    shutil.rmtree(state, ignore_errors=True)
    workload = build_trip_files(state / "workload", events)
    source = list(expected_events(workload.files))
    span = (max(e.utc for e in source) - min(e.utc for e in source)).total_seconds()
    replay_s = replay_s or 60.0 + 25.0 * kills
    report = ChaosReport(seed, workload.events, plan(seed, kills, replay_s))
    print(f"chaos: seed {seed}; {workload.events} events; replay paced to ~{replay_s:.0f}s", flush=True)  # noqa: T201
    started = time.monotonic()
    cluster = Cluster(state, cluster_ports_from(port_base))
    try:
        cluster.start()
        uploads = {f"{PREFIX}{f.name}": f for f in workload.files}
        asyncio.run(ensure_bucket(cluster.s3.endpoint, BUCKET, cluster.access_key, cluster.secret_key, uploads))

        async def go() -> Verdict:
            chaos = ChaosRun(cluster, workload.files, workload.events, seed, report.kills)
            cluster.run_producer("--prefix", PREFIX, "--speed", f"{span / replay_s:.3f}")
            await chaos.run(drain_timeout_s)
            return await chaos.finish()

        report.verdict = asyncio.run(go())
    finally:
        cluster.stop()
        report.duration_s = time.monotonic() - started
        if not keep:
            shutil.rmtree(state, ignore_errors=True)
            shutil.rmtree(cluster.postgres.dir, ignore_errors=True)
    return report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./dev chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events to replay (default 200,000)")
    parser.add_argument("--kills", type=int, default=len(KINDS), help=f"kills (the first {len(KINDS)}: one per kind)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (printed; default: a new one)")
    parser.add_argument("--replay-seconds", type=float, default=None, help="pace the replay to last about this long")
    parser.add_argument("--state", type=Path, default=paths.LOCAL / "chaos")
    parser.add_argument(
        "--port-base", type=int, default=int(os.environ.get("BIKESHARE_STACK_PORT_BASE", "0")), help="0: any free"
    )
    parser.add_argument("--keep", action="store_true", help="keep the state directory (logs) afterwards")
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the progress probe meets killed brokers on purpose
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    report = run_chaos(args.events, args.kills, seed, args.state, args.port_base, args.replay_seconds, keep=args.keep)
    print("\n".join(report.lines()), flush=True)  # noqa: T201
    return 0 if report.verdict is not None and report.verdict.ok else 1
