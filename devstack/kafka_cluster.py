"""Three Kafka brokers in KRaft mode on 127.0.0.1, each a separate `java` process with combined
broker+controller roles (a 3-voter controller quorum), for `./dev cluster` and the chaos runner.

Durability settings are the cluster's: topics default to replication factor 2 and
`min.insync.replicas` 2, so a write acknowledged with acks=all is on two brokers before the producer
hears back; the internal topics (consumer offsets, transactions) have replication factor 3.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from devstack import paths
from devstack.components import SETUP_HINT, _cluster_id
from devstack.errors import MissingDependency
from devstack.process import ManagedProcess, ensure_port_free, tcp_open

logger = logging.getLogger(__name__)

BROKER_HEAP = "-Xmx512m"


@dataclass(frozen=True)
class BrokerPorts:
    node_id: int
    client: int
    controller: int


def broker_properties(broker: BrokerPorts, quorum: list[BrokerPorts], data_dir: Path) -> dict[str, str]:
    """One broker's server.properties; shared by the local cluster and checked against compose.yaml."""
    voters = ",".join(f"{b.node_id}@127.0.0.1:{b.controller}" for b in quorum)
    return {
        "process.roles": "broker,controller",
        "node.id": str(broker.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{broker.client},CONTROLLER://127.0.0.1:{broker.controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{broker.client}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "3",
        "default.replication.factor": "2",
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": "3",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
        "share.coordinator.state.topic.replication.factor": "3",
        "share.coordinator.state.topic.min.isr": "2",
        "group.initial.rebalance.delay.ms": "0",
        # A killed broker is fenced (and its partitions get new leaders) after this, not the default 9 s.
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "1000",
        "auto.create.topics.enable": "true",
        # Keep records whatever their timestamps: a restored capture carries the data's own (2013-2024), which
        # time-based retention (7 days by default) would delete at its next check, mid-test or mid-replay.
        "log.retention.ms": "-1",
    }


class KafkaBroker:
    """One broker+controller node; `process` is restartable (the supervisor restarts it after a kill)."""

    def __init__(self, state: Path, broker: BrokerPorts, quorum: list[BrokerPorts], logs: Path) -> None:
        jars = paths.KAFKA_JARS
        if not list(jars.glob("kafka_2.13-*.jar")):
            raise MissingDependency(f"kafka: no broker jars in {jars}; {SETUP_HINT}")
        java = shutil.which("java")
        if java is None:
            raise MissingDependency(f"kafka: `java` (17+) is not on PATH; {SETUP_HINT}")
        self.java = java
        self.ports = broker
        self.quorum = quorum
        self.name = f"kafka-{broker.node_id}"
        self.dir = state / self.name
        self.address = f"127.0.0.1:{broker.client}"
        self.config = self.dir / "server.properties"
        self.process = ManagedProcess(self.name, self._argv("kafka.Kafka", str(self.config)), logs / f"{self.name}.log")

    def _argv(self, main: str, *args: str) -> list[str]:
        return [
            self.java,
            "-Xms128m",
            BROKER_HEAP,
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={paths.KAFKA_LOG4J}",
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            f"{paths.KAFKA_JARS}/*",
            main,
            *args,
        ]

    def prepare(self, cluster_id: str) -> None:
        """Write the config and format the storage once (with the cluster's shared id)."""
        ensure_port_free(self.name, self.ports.client)
        ensure_port_free(f"{self.name} controller", self.ports.controller)
        self.dir.mkdir(parents=True, exist_ok=True)
        props = broker_properties(self.ports, self.quorum, self.dir / "data")
        self.config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        if (self.dir / "data" / "meta.properties").exists():
            return
        fmt = subprocess.run(
            self._argv("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config)),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise MissingDependency(f"{self.name}: formatting the KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")

    def ready(self) -> bool:
        return tcp_open("127.0.0.1", self.ports.client)


class KafkaCluster:
    """The three nodes, formatted with one cluster id (kept in the state directory across restarts)."""

    def __init__(self, state: Path, quorum: list[BrokerPorts], logs: Path) -> None:
        self.state = state
        self.brokers = [KafkaBroker(state, b, quorum, logs) for b in quorum]
        self.bootstrap = ",".join(b.address for b in self.brokers)

    def prepare(self) -> None:
        id_file = self.state / "kafka-cluster-id"
        if not id_file.exists():
            self.state.mkdir(parents=True, exist_ok=True)
            id_file.write_text(_cluster_id())
        cluster_id = id_file.read_text().strip()
        for broker in self.brokers:
            broker.prepare(cluster_id)

    def by_node(self, node_id: int) -> KafkaBroker:
        return next(b for b in self.brokers if b.ports.node_id == node_id)


async def partition_leaders(bootstrap: str, topic_names: list[str]) -> dict[int, int]:
    """How many of these topics' partitions each broker (node id) leads right now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        described = await admin.describe_topics(topic_names)
    finally:
        await admin.close()
    counts: dict[int, int] = {}
    for topic in described:
        for partition in topic.get("partitions", []):
            leader = int(partition["leader"])
            if leader >= 0:
                counts[leader] = counts.get(leader, 0) + 1
    return counts


def leading_broker(bootstrap: str, topic_names: list[str]) -> int | None:
    """The node id that leads the most partitions of `topic_names` (None if none is known)."""
    try:
        counts = asyncio.run(partition_leaders(bootstrap, topic_names))
    except Exception as exc:  # a leader lookup during a fault may fail; the caller picks another broker
        logger.warning("could not read partition leaders from %s: %s", bootstrap, exc)
        return None
    return max(counts, key=lambda node: counts[node]) if counts else None
