"""The pipeline as a cluster on one machine (`./dev cluster`): every node a separate process on 127.0.0.1.

3 Kafka brokers (KRaft, combined roles, topics at 3 partitions / RF 2 / min.insync.replicas 2),
a Spark standalone master with 2 workers, Postgres, SeaweedFS, 2 enricher workers in one consumer
group, the Spark sink as the cluster's driver, 2 web replicas, and the producer as a job. Every
process is watched by a `Supervisor` that restarts it when it dies.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack import paths, provision
from devstack.components import Ports, Postgres, SeaweedFS
from devstack.errors import StackError
from devstack.kafka_cluster import BrokerPorts, KafkaCluster
from devstack.preflight import check_environment
from devstack.process import ManagedProcess, ensure_port_free, tcp_open, wait_until
from devstack.services import http_ok
from devstack.spark_standalone import SparkMaster, SparkWorker, driver_submit_args
from devstack.stack import local_s3_credentials
from devstack.supervisor import Supervisor

logger = logging.getLogger(__name__)

DATABASE = "bikeshare"
BUCKET = "tripdata"
APP_ID = "bikeshare-enricher"
# The topology, shared with compose.yaml (tests/test_compose.py compares the two).
TOPIC_PARTITIONS = 3
TOPIC_REPLICATION = 2
ENRICHERS = 2
WEB_REPLICAS = 2
SPARK_WORKERS = 2


@dataclass(frozen=True)
class ClusterPorts(Ports):
    """`Ports` (Postgres, SeaweedFS, broker 1, web 1, metrics) plus the cluster's extra nodes, in 32 ports."""

    @property
    def brokers(self) -> list[BrokerPorts]:
        b = self.base
        return [BrokerPorts(1, b, b + 1), BrokerPorts(2, b + 11, b + 12), BrokerPorts(3, b + 13, b + 14)]

    @property
    def spark_master(self) -> tuple[int, int]:
        return self.base + 15, self.base + 16

    def spark_worker(self, index: int) -> tuple[int, int]:
        return self.base + 24 + 2 * index, self.base + 25 + 2 * index  # index 1, 2 -> 26/27, 28/29

    def web_replica(self, index: int) -> int:
        return self.web if index == 1 else self.base + 25

    def enricher_metrics(self, index: int) -> int:
        return self.metrics("enricher") if index == 1 else self.base + 24

    def all(self) -> dict[str, int]:
        named = {"postgres": self.postgres, "seaweedfs s3": self.s3}
        named.update({f"seaweedfs {k}": v for k, v in self.weed.items()})
        for broker in self.brokers:
            named[f"kafka-{broker.node_id}"] = broker.client
            named[f"kafka-{broker.node_id} controller"] = broker.controller
        named["spark master"], named["spark master ui"] = self.spark_master
        for i in (1, 2):
            named[f"spark-worker-{i}"], named[f"spark-worker-{i} ui"] = self.spark_worker(i)
            named[f"web-{i}"] = self.web_replica(i)
            named[f"enricher-{i} metrics"] = self.enricher_metrics(i)
        named["producer metrics"] = self.metrics("producer")
        named["spark_sink metrics"] = self.metrics("spark_sink")
        return named


class Cluster:
    def __init__(
        self,
        state: Path,
        ports: ClusterPorts,
        enrichers: int = ENRICHERS,
        web_replicas: int = WEB_REPLICAS,
        spark: str = "standalone",
    ) -> None:
        self.state = state = state.resolve()
        self.ports = ports
        self.logs = state / "logs"
        self.enrichers, self.web_replicas, self.spark = enrichers, web_replicas, spark
        self.access_key, self.secret_key = local_s3_credentials(self.state)
        self.kafka = KafkaCluster(state, ports.brokers, self.logs)
        self.postgres = Postgres(state, ports, self.logs)
        self.s3 = SeaweedFS(state, ports, self.logs, self.access_key, self.secret_key)
        self.master: SparkMaster | None = None
        self.workers: list[SparkWorker] = []
        if spark == "standalone":
            self.master = SparkMaster(state, *ports.spark_master, self.logs)
            self.workers = [
                SparkWorker(state, i, self.master, *ports.spark_worker(i), self.logs)
                for i in range(1, SPARK_WORKERS + 1)
            ]
        self.supervisor = Supervisor()
        self.processes: list[ManagedProcess] = []
        # Per service, applied last to its environment (benchmarks point services elsewhere).
        self.env_overrides: dict[str, dict[str, str]] = {}

    @property
    def postgres_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports.postgres}/{DATABASE}"

    @property
    def spark_master_url(self) -> str:
        return self.master.url if self.master else "local[2]"

    def web_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.ports.web_replica(i)}" for i in range(1, self.web_replicas + 1)]

    def service_env(self, service: str, replica: int = 1) -> dict[str, str]:
        """The environment of one service replica on this cluster."""
        env = {
            **os.environ,
            "BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "BIKESHARE_TOPIC_PARTITIONS": str(TOPIC_PARTITIONS),
            "BIKESHARE_TOPIC_REPLICATION_FACTOR": str(TOPIC_REPLICATION),
            "BIKESHARE_POSTGRES_DSN": self.postgres_dsn,
            "BIKESHARE_S3_ENDPOINT_URL": self.s3.endpoint,
            "BIKESHARE_S3_BUCKET": BUCKET,
            "BIKESHARE_APP_ID": APP_ID,
            # Static group membership: a restarted enricher worker takes its partitions back without a rebalance.
            "BIKESHARE_ENRICHER_INSTANCE_ID": f"enricher-{replica}",
            "BIKESHARE_SPARK_JARS_DIR": str(paths.SPARK_JARS),
            "BIKESHARE_SPARK_CHECKPOINT_DIR": str(self.state / "spark-checkpoint"),
            "BIKESHARE_SPARK_MASTER": self.spark_master_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": str(paths.VENV_BIN / "python"),
        }
        if service == "web":
            env["BIKESHARE_WEB_PORT"] = str(self.ports.web_replica(replica))
            # The web's read-only login (member of bikeshare_reader), as in the single-node stack.
            env["BIKESHARE_POSTGRES_DSN"] = self.postgres_dsn.replace("postgres@", f"{provision.WEB_ROLE}@", 1)
        elif service == "enricher":
            env["BIKESHARE_METRICS_PORT"] = str(self.ports.enricher_metrics(replica))
        elif service in ("producer", "spark_sink"):
            env["BIKESHARE_METRICS_PORT"] = str(self.ports.metrics(service))
        if service == "producer":
            # Where a restarted replay finds its position (it resumes instead of starting over).
            env["BIKESHARE_CHECKPOINT_DIR"] = str(self.state / "producer-checkpoint")
        if service == "spark_sink" and self.master is not None:
            env["PYSPARK_SUBMIT_ARGS"] = driver_submit_args()
        env.update(self.env_overrides.get(service, {}))
        return env

    def health_url(self, service: str, replica: int = 1) -> str:
        if service == "web":
            return f"http://127.0.0.1:{self.ports.web_replica(replica)}/health"
        port = self.ports.enricher_metrics(replica) if service == "enricher" else self.ports.metrics(service)
        return f"http://127.0.0.1:{port}/health"

    def _supervise(
        self,
        process: ManagedProcess,
        ready: Callable[[], bool],
        one_shot: bool = False,
        first_start: Callable[[], None] | None = None,
    ) -> ManagedProcess:
        (first_start or process.start)()
        self.processes.append(process)
        self.supervisor.add(process, ready, one_shot)
        return process

    def start(self, services: bool = True) -> None:
        """Infrastructure first (all ports checked before anything starts), then (unless not wanted) the services."""
        for name, port in self.ports.all().items():
            ensure_port_free(name, port)
        try:
            self.kafka.prepare()
            self._supervise(self.postgres.process, self._postgres_ready, first_start=self.postgres.start)
            self._supervise(self.s3.process, lambda: tcp_open("127.0.0.1", self.ports.s3), first_start=self.s3.start)
            for broker in self.kafka.brokers:
                self._supervise(broker.process, broker.ready)
            if self.master is not None:
                self._supervise(self.master.process, self.master.ready)
                for worker in self.workers:
                    self._supervise(worker.process, worker.ready)
            self.supervisor.start()
            self.postgres.wait_ready()
            self.s3.wait_ready()
            for broker in self.kafka.brokers:
                broker.process.wait_ready(broker.ready, 90)
            asyncio.run(self._provision())
            if self.master is not None:
                master = self.master
                wait_until("spark workers", lambda: master.alive_workers() >= len(self.workers), 90)
            if services:
                self.start_services()
        except BaseException:
            self.stop()
            raise
        logger.info(
            "cluster ready: kafka %s, spark %s, web %s", self.kafka.bootstrap, self.spark_master_url, self.web_urls()
        )

    def _postgres_ready(self) -> bool:
        return tcp_open("127.0.0.1", self.ports.postgres)

    async def _provision(self) -> None:
        await provision.create_database(self.postgres.dsn_admin, DATABASE)
        await provision.migrate(self.postgres_dsn)
        await provision.create_login_roles(self.postgres.dsn_admin)
        await provision.ensure_bucket(self.s3.endpoint, BUCKET, self.access_key, self.secret_key)
        await provision.create_topics(self.kafka.bootstrap, TOPIC_PARTITIONS, replication=TOPIC_REPLICATION)

    def service(self, service: str, replica: int = 1, *args: str) -> ManagedProcess:
        name = service if service in ("spark_sink", "producer") else f"{service}-{replica}"
        # Each replica works in a directory of its own (faust keeps a data directory in its cwd).
        workdir = self.state / name
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**self.service_env(service, replica), "PYTHONPATH": str(paths.ROOT)}
        return ManagedProcess(
            name, [sys.executable, "-m", f"services.{service}", *args], self.logs / f"{name}.log", env=env, cwd=workdir
        )

    def start_services(self) -> None:
        for warning in check_environment(self.service_env("spark_sink")):
            logger.warning("%s", warning)
        for i in range(1, self.enrichers + 1):
            self._supervise(self.service("enricher", i), functools.partial(http_ok, self.health_url("enricher", i)))
        sink_url = self.health_url("spark_sink")
        self._supervise(self.service("spark_sink"), lambda: http_ok(sink_url))
        for i in range(1, self.web_replicas + 1):
            self._supervise(self.service("web", i), functools.partial(http_ok, self.health_url("web", i)))
        for name in ("spark_sink", *(f"web-{i}" for i in range(1, self.web_replicas + 1))):
            entry = self.supervisor.entries[name]
            entry.process.wait_ready(entry.ready, 180)

    def run_producer(self, *args: str) -> ManagedProcess:
        """The replay job, restarted by the supervisor until it exits 0."""
        return self._supervise(
            self.service("producer", 1, *args), lambda: http_ok(self.health_url("producer")), one_shot=True
        )

    def stop(self) -> None:
        self.supervisor.stop()
        # The services are told to stop at once (each may take seconds to leave its consumer group).
        infrastructure = {self.postgres.process, self.s3.process, *(b.process for b in self.kafka.brokers)}
        infrastructure |= {w.process for w in self.workers} | ({self.master.process} if self.master else set())
        for process in self.processes:
            if process not in infrastructure and process.proc is not None and process.proc.poll() is None:
                os.killpg(process.proc.pid, signal.SIGTERM)
        # All brokers are told to stop at once: one by one, the last would wait for a controller quorum.
        for broker in self.kafka.brokers:
            proc = broker.process.proc
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        # Services first, then Spark, Kafka, S3, Postgres: each stops itself (Postgres with a fast shutdown).
        for process in reversed(self.processes):
            if process is self.postgres.process:
                self.postgres.stop()
            else:
                process.stop()
        self.processes.clear()


def cluster_ports_from(base: int) -> ClusterPorts:
    if base:
        return ClusterPorts(base)
    from devstack.stack import free_ports

    for _ in range(50):
        candidate = ClusterPorts(free_ports().base)
        try:
            for name, port in candidate.all().items():
                ensure_port_free(name, port)
        except StackError:
            continue
        return candidate
    raise StackError("no free range of 32 ports for a cluster")
