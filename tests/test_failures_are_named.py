"""Bad set-ups fail fast with a message naming the component and the fix, never a hang."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import paths
from devstack.components import Ports
from devstack.errors import PortInUse
from devstack.process import free_port
from devstack.stack import Stack, free_ports

SERVICES = ("producer", "enricher", "spark_sink", "web")


def run_service(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BIKESHARE_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", f"services.{name}", *args],
        env={**clean, **env},
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_help(service: str) -> None:
    result = run_service(service, {}, "--help")
    assert result.returncode == 0
    assert f"python -m services.{service}" in result.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_missing_settings_name_the_variables(service: str) -> None:
    result = run_service(service, {})
    assert result.returncode != 0
    assert "fix these environment variables" in result.stderr
    assert "BIKESHARE_" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_kafka_is_reported_by_the_producer() -> None:
    port = free_port()
    result = run_service(
        "producer", {"BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}", "BIKESHARE_S3_BUCKET": "b"}
    )
    assert result.returncode == 2
    assert f"kafka at 127.0.0.1:{port} is unreachable" in result.stderr


@pytest.mark.parametrize("service", ["spark_sink", "web"])
def test_unreachable_postgres_is_reported(service: str) -> None:
    port = free_port()
    result = run_service(
        service,
        {
            "BIKESHARE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "BIKESHARE_POSTGRES_DSN": f"postgresql://u@127.0.0.1:{port}/d",
            "BIKESHARE_SPARK_CHECKPOINT_DIR": "/nonexistent",
            "BIKESHARE_SPARK_JARS_DIR": "/nonexistent",
        },
    )
    assert result.returncode != 0
    assert f"postgres at 127.0.0.1:{port}/d is unreachable" in result.stderr


def test_a_taken_port_is_reported_by_name_before_anything_starts(tmp_path: Path) -> None:
    ports = free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports.postgres))
        squatter.listen()
        stack = Stack(tmp_path / "stack", Ports(ports.base))
        with pytest.raises(PortInUse, match=rf"postgres: port 127.0.0.1:{ports.postgres} is already in use"):
            stack.start()
    assert stack.kafka.process.proc is None
    assert stack.s3.process.proc is None


def test_spark_connector_pin_matches_pyspark() -> None:
    import tomllib
    import xml.etree.ElementTree as ET

    lock = tomllib.loads((paths.ROOT / "uv.lock").read_text())
    (pyspark,) = [p["version"] for p in lock["package"] if p["name"] == "pyspark"]
    pom = ET.parse(paths.ROOT / "infra" / "spark" / "pom.xml")
    spark_version = pom.findtext(
        "{http://maven.apache.org/POM/4.0.0}properties/{http://maven.apache.org/POM/4.0.0}spark.version"
    )
    assert spark_version == pyspark
    assert (paths.SPARK_JARS / f"spark-sql-kafka-0-10_2.13-{pyspark}.jar").exists()
