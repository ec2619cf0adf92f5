"""The pipeline's long-running services as child processes of the stack (demo and end-to-end tests)."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from devstack import paths
from devstack.process import ManagedProcess

LONG_RUNNING = ("enricher", "spark_sink", "web")


def service_process(name: str, env: Mapping[str, str], logs: Path, *args: str) -> ManagedProcess:
    return ManagedProcess(
        name,
        [sys.executable, "-m", f"services.{name}", *args],
        logs / f"{name}.log",
        env=env,
        cwd=paths.ROOT,
    )


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
