"""Checks, in seconds, that the Kafka brokers and the Spark master a service is given can be reached,
naming each wrong address and the variable it came from (instead of a client retrying for a minute).

`./dev cluster` runs it on the environment it hands to the services; `python -m devstack check` runs
it on the current environment (e.g. before starting a service by hand, or as an init step).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from devstack.errors import StackError

KAFKA_VAR = "BIKESHARE_KAFKA_BOOTSTRAP_SERVERS"
SPARK_VAR = "BIKESHARE_SPARK_MASTER"


class Unreachable(StackError):
    """An address a service was given is malformed or does not answer."""


def _host_port(address: str, what: str) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise Unreachable(f"{what}: {address!r} is not host:port")
    return host.strip("[]"), int(port)


def _connect(host: str, port: int, timeout_s: float) -> str | None:
    """None if a TCP connection opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    except TimeoutError:
        return f"no answer within {timeout_s:g}s"
    except OSError as exc:
        return exc.strerror or str(exc)


def check_kafka(bootstrap: str, timeout_s: float = 3.0) -> list[str]:
    """Fails if any address is malformed or none answers; returns warnings for those that do not."""
    addresses = [a for a in bootstrap.split(",") if a.strip()]
    if not addresses:
        raise Unreachable(f"{KAFKA_VAR} is empty; give host:port[,host:port...] of the Kafka brokers")
    parsed = [_host_port(a, f"{KAFKA_VAR} broker") for a in addresses]
    with ThreadPoolExecutor(len(parsed)) as pool:
        results = list(pool.map(lambda hp: _connect(hp[0], hp[1], timeout_s), parsed))
    problems = [
        f"Kafka broker {a.strip()} ({KAFKA_VAR}): {why}" for a, why in zip(addresses, results, strict=True) if why
    ]
    if len(problems) == len(addresses):
        raise Unreachable("no Kafka broker answers:\n  " + "\n  ".join(problems) + f"\nfix {KAFKA_VAR} or start them")
    return problems


def check_spark_master(url: str, timeout_s: float = 3.0) -> None:
    """`local[...]` needs nothing; `spark://host:port` must answer."""
    if url == "local" or url.startswith("local["):
        return
    if not url.startswith("spark://"):
        raise Unreachable(f"Spark master {url!r} ({SPARK_VAR}): expected spark://host:port or local[N]")
    host, port = _host_port(url.removeprefix("spark://").split(",")[0], f"Spark master {url} ({SPARK_VAR})")
    if (why := _connect(host, port, timeout_s)) is not None:
        raise Unreachable(f"Spark master {url} ({SPARK_VAR}): {why}; fix {SPARK_VAR} or start the master")


def check_environment(env: Mapping[str, str], timeout_s: float = 3.0) -> list[str]:
    """Both checks on a service environment; raises on the first fatal problem, returns warnings."""
    warnings: list[str] = []
    if env.get(KAFKA_VAR):
        warnings += check_kafka(env[KAFKA_VAR], timeout_s)
    if env.get(SPARK_VAR):
        check_spark_master(env[SPARK_VAR], timeout_s)
    return warnings
