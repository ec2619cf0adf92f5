"""The local stack as one object: start everything with readiness checks, hand out the services' env, stop."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
from pathlib import Path

from devstack import paths, provision
from devstack.components import Kafka, Ports, Postgres, SeaweedFS
from devstack.errors import StackError
from devstack.process import ensure_port_free

logger = logging.getLogger(__name__)

DATABASE = "bikeshare"
BUCKET = "tripdata"


def free_ports() -> Ports:
    """A port base whose whole range is free right now (for tests that must not meet a running demo).

    It stays below Linux's ephemeral range (32768+), where a client's outgoing connection could take
    a port between this check and the server binding it."""
    for _ in range(50):
        ports = Ports(random.randrange(20000, 32736, 32))
        try:
            for name, port in ports.all().items():
                ensure_port_free(name, port)
        except StackError:
            continue
        return ports
    raise StackError("no free range of 32 ports found between 20000 and 32767")


def local_s3_credentials(state: Path) -> tuple[str, str]:
    """Local-only S3 keys, made once per stack (or cluster) state and kept out of the repository (mode 0600)."""
    path = state / "s3-credentials"
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        path.write_text(f"bikeshare-{secrets.token_hex(4)}\n{secrets.token_hex(20)}\n")
        path.chmod(0o600)
    key, secret = path.read_text().split()
    return key, secret


class Stack:
    def __init__(self, state: Path, ports: Ports, partitions: int = 3) -> None:
        self.state = state = state.resolve()
        self.ports = ports
        self.partitions = partitions
        self.logs = state / "logs"
        self.access_key, self.secret_key = local_s3_credentials(state)
        self.kafka = Kafka(state, ports, self.logs)
        self.postgres = Postgres(state, ports, self.logs)
        self.s3 = SeaweedFS(state, ports, self.logs, self.access_key, self.secret_key)

    @property
    def postgres_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports.postgres}/{DATABASE}"

    @property
    def web_dsn(self) -> str:
        """The web's read-only login (member of bikeshare_reader)."""
        return self.postgres_dsn.replace("postgres@", f"{provision.WEB_ROLE}@", 1)

    @property
    def sink_dsn(self) -> str:
        """The sink's login (member of bikeshare_writer: rows, not schema)."""
        return self.postgres_dsn.replace("postgres@", f"{provision.SINK_ROLE}@", 1)

    def service_env(self, service: str | None = None) -> dict[str, str]:
        """The environment a service needs to run against this stack."""
        env = {
            **os.environ,
            "BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "BIKESHARE_POSTGRES_DSN": self.postgres_dsn,
            "BIKESHARE_S3_ENDPOINT_URL": self.s3.endpoint,
            "BIKESHARE_S3_BUCKET": BUCKET,
            "BIKESHARE_TOPIC_PARTITIONS": str(self.partitions),
            "BIKESHARE_SPARK_JARS_DIR": str(paths.SPARK_JARS),
            "BIKESHARE_SPARK_CHECKPOINT_DIR": str(self.state / "spark-checkpoint"),
            "BIKESHARE_WEB_PORT": str(self.ports.web),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": str(paths.VENV_BIN / "python"),
        }
        if service == "web":
            env["BIKESHARE_POSTGRES_DSN"] = self.web_dsn
        elif service == "spark_sink":
            env["BIKESHARE_POSTGRES_DSN"] = self.sink_dsn
        if service in ("producer", "enricher", "spark_sink"):
            env["BIKESHARE_METRICS_PORT"] = str(self.ports.metrics(service))
        return env

    def start(self) -> None:
        for name, port in self.ports.infrastructure().items():
            ensure_port_free(name, port)  # all of them before starting anything
        started: list[Kafka | Postgres | SeaweedFS] = []
        try:
            for component in (self.postgres, self.s3, self.kafka):
                component.start()
                started.append(component)
            self.postgres.wait_ready()
            self.s3.wait_ready()
            self.kafka.wait_ready()
            asyncio.run(self._provision())
        except BaseException:
            for component in reversed(started):
                component.stop()
            raise
        logger.info(
            "stack ready: kafka %s, postgres %s, s3 %s", self.kafka.bootstrap, self.postgres_dsn, self.s3.endpoint
        )

    async def _provision(self) -> None:
        await provision.create_database(self.postgres.dsn_admin, DATABASE)
        await provision.migrate(self.postgres_dsn)
        await provision.create_login_roles(self.postgres.dsn_admin)
        await provision.ensure_bucket(self.s3.endpoint, BUCKET, self.access_key, self.secret_key)
        await provision.create_topics(self.kafka.bootstrap, self.partitions)

    def stop(self) -> None:
        for component in (self.kafka, self.s3, self.postgres):
            component.stop()
