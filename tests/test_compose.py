"""compose.yaml: valid against the Compose Specification schema, and in the pipeline's multi-node shape.

No Docker engine runs here, so the file is checked statically: 3 KRaft brokers, the topic-creating
one-shot, a Spark master with 2 workers, healthchecks and health-gated `depends_on`, Dockerfiles that
exist, and no literal secrets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared import topics

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "compose.yaml"
SCHEMA_FILE = REPO.parent / "shared" / "reference" / "compose-spec" / "compose-spec.json"
KAFKA_IMAGE = "apache/kafka:"
SPARK_IMAGE = "apache/spark:"
SECRET_KEY_MARKERS = ("PASSWORD", "SECRET")
URL_PASSWORD = re.compile(r"://[^/:@\s]+:([^@\s]+)@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # a missing file fails here
    assert isinstance(data, dict), "compose.yaml must be a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose.get("services")
    assert isinstance(found, dict), "compose.yaml has no services"
    return found


def env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as strings, whether written as a mapping or a KEY=VALUE list."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def command_text(service: dict[str, Any]) -> str:
    parts = [service.get(key) or [] for key in ("entrypoint", "command")]
    return " ".join(" ".join(part) if isinstance(part, list) else str(part) for part in parts)


def brokers(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        name: env(svc)
        for name, svc in services.items()
        if str(svc.get("image", "")).startswith(KAFKA_IMAGE)
        and "broker" in env(svc).get("KAFKA_PROCESS_ROLES", "").split(",")
    }


def one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services that others wait on to have *completed*: they exit, so they have no healthcheck."""
    return {
        dep
        for svc in services.values()
        if isinstance(svc.get("depends_on"), dict)
        for dep, spec in svc["depends_on"].items()
        if (spec or {}).get("condition") == "service_completed_successfully"
    }


def test_valid_against_compose_spec(compose: dict[str, Any]) -> None:
    schema = yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_three_kraft_brokers(services: dict[str, dict[str, Any]]) -> None:
    found = brokers(services)
    assert len(found) == 3, f"expected 3 Kafka brokers, found {sorted(found)}"
    node_ids = {e.get("KAFKA_NODE_ID") for e in found.values()}
    assert None not in node_ids, "every broker needs a KAFKA_NODE_ID"
    assert len(node_ids) == 3, f"node ids must be distinct: {node_ids}"
    for name, broker_env in found.items():
        assert "controller" in broker_env["KAFKA_PROCESS_ROLES"].split(","), name
        voters = dict(voter.split("@", 1) for voter in broker_env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "").split(","))
        assert set(voters) == node_ids, f"{name}: voters {voters} are not the node ids {node_ids}"
        assert {v.rsplit(":", 1)[0] for v in voters.values()} == set(found), f"{name}: voters {voters}"
    assert len({e.get("CLUSTER_ID") for e in found.values()}) == 1, "brokers must share one CLUSTER_ID"


def test_topics_are_created_with_partitions_and_replication(services: dict[str, dict[str, Any]]) -> None:
    creators = [name for name, svc in services.items() if "kafka-topics" in command_text(svc)]
    assert len(creators) == 1, f"expected one topic-creating service, found {creators}"
    (name,) = creators
    text = command_text(services[name])
    assert re.search(r"--partitions\s+3\b", text), text
    assert re.search(r"--replication-factor\s+2\b", text), text
    assert "--if-not-exists" in text
    for topic in topics.ALL:
        assert topic in text, f"{name} does not create {topic}"
    assert name in one_shots(services), f"services must wait for {name} to complete"
    assert set(services[name].get("depends_on", {})) >= set(brokers(services)), "init must wait for brokers"


def test_spark_master_and_two_workers(services: dict[str, dict[str, Any]]) -> None:
    spark = {
        name: command_text(svc) for name, svc in services.items() if str(svc.get("image", "")).startswith(SPARK_IMAGE)
    }
    masters = [n for n, cmd in spark.items() if "deploy.master.Master" in cmd]
    workers = [n for n, cmd in spark.items() if "deploy.worker.Worker" in cmd]
    assert len(masters) == 1, masters
    assert len(workers) == 2, workers
    for worker in workers:
        assert f"spark://{masters[0]}:7077" in spark[worker], worker


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    exempt = one_shots(services)
    for name, svc in services.items():
        if name in exempt:
            continue
        check = svc.get("healthcheck") or {}
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"


def test_depends_on_waits_for_health(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on")
        if deps is None:
            continue
        assert isinstance(deps, dict), f"{name}: depends_on must be the long form, with conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = (spec or {}).get("condition")
            if services[dep].get("healthcheck"):
                assert condition == "service_healthy", f"{name} -> {dep}: {condition}"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {dep}: {condition}"


def test_builds_point_at_existing_dockerfiles(services: dict[str, dict[str, Any]]) -> None:
    builds = {name: svc["build"] for name, svc in services.items() if "build" in svc}
    assert {"producer", "enricher", "spark-sink", "web"} <= set(builds)
    for name, build in builds.items():
        assert isinstance(build, dict), f"{name}: build must name its dockerfile"
        dockerfile = REPO / build.get("context", ".") / build["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def test_no_literal_secrets(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for key, value in env(svc).items():
            if any(marker in key.upper() for marker in SECRET_KEY_MARKERS):
                assert "${" in value, f"{name}: {key} must come from the environment"
            for password in URL_PASSWORD.findall(value):
                assert password.startswith("${"), f"{name}: {key} holds a literal password"


# compose.yaml and `./dev cluster` (devstack/cluster.py) are two forms of one topology: compare them.

# Broker settings both forms must agree on (the apache/kafka image maps KAFKA_A_B_C to a.b.c).
SHARED_BROKER_SETTINGS = (
    "process.roles",
    "num.partitions",
    "default.replication.factor",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "broker.session.timeout.ms",
    "group.initial.rebalance.delay.ms",
    "log.retention.ms",
)


def replicas(service: dict[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


def test_brokers_match_the_local_cluster(services: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    from devstack.cluster import ClusterPorts
    from devstack.kafka_cluster import broker_properties

    quorum = ClusterPorts(20000).brokers
    assert len(brokers(services)) == len(quorum)
    local = broker_properties(quorum[0], quorum, tmp_path)
    for name, broker_env in brokers(services).items():
        for key in SHARED_BROKER_SETTINGS:
            variable = "KAFKA_" + key.upper().replace(".", "_")
            assert broker_env.get(variable, "").lower() == local[key].lower(), f"{name}: {variable} vs {key}"
    voters = local["controller.quorum.voters"].split(",")
    assert len(voters) == len(quorum), "the local cluster's controller quorum has a voter per broker"


def test_topics_match_the_local_cluster(services: dict[str, dict[str, Any]]) -> None:
    from devstack import cluster

    (text,) = [command_text(svc) for svc in services.values() if "kafka-topics" in command_text(svc)]
    assert re.search(rf"--partitions\s+{cluster.TOPIC_PARTITIONS}\b", text)
    assert re.search(rf"--replication-factor\s+{cluster.TOPIC_REPLICATION}\b", text)
    assert "min.insync.replicas=2" in text
    shared_env = env(services["enricher"])
    assert shared_env["BIKESHARE_TOPIC_PARTITIONS"] == str(cluster.TOPIC_PARTITIONS)
    assert shared_env["BIKESHARE_TOPIC_REPLICATION_FACTOR"] == str(cluster.TOPIC_REPLICATION)


def test_replicas_match_the_local_cluster(services: dict[str, dict[str, Any]]) -> None:
    from devstack import cluster

    workers = [n for n, svc in services.items() if "deploy.worker.Worker" in command_text(svc)]
    assert len(workers) == cluster.SPARK_WORKERS
    assert replicas(services["enricher"]) == cluster.ENRICHERS
    assert replicas(services["web"]) == cluster.WEB_REPLICAS
    assert env(services["spark-sink"])["BIKESHARE_SPARK_MASTER"].startswith("spark://")


def test_every_process_is_restarted_when_it_dies(services: dict[str, dict[str, Any]]) -> None:
    """compose's `restart:` is the supervisor of `./dev cluster`: long-running services always come back,
    the producer job only when it failed, the topic-creating one-shot never."""
    for name, svc in services.items():
        policy = svc.get("restart")
        if name in one_shots(services):
            assert policy == "no", name
        elif name == "producer":
            assert policy == "on-failure", name
        else:
            assert policy in ("unless-stopped", "always"), f"{name}: restart {policy!r}"


def test_dockerfiles_copy_what_exists_and_what_the_services_read(services: dict[str, dict[str, Any]]) -> None:
    """Every `COPY` source is in the repository, and services that read the offline station catalogue
    by default (enricher, sink) get it in their image."""
    for name, svc in services.items():
        if "build" not in svc:
            continue
        text = (REPO / svc["build"]["dockerfile"]).read_text(encoding="utf-8")
        for line in text.splitlines():
            parts = line.split()
            if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
                for source in parts[1:-1]:
                    assert (REPO / source).exists(), f"{name}: COPY {source} is not in the repository"
        if name in ("enricher", "spark-sink"):
            assert "COPY data/stations/" in text, f"{name}: the station catalogue is not in the image"
