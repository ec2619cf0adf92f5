"""A Spark standalone cluster (one master, N workers) from the pyspark distribution's own launch classes.

pip's pyspark has no `sbin/start-master.sh`, but `pyspark/bin/spark-class` runs
`org.apache.spark.deploy.master.Master` and `...deploy.worker.Worker` with pyspark's jars as SPARK_HOME.
The sink's driver then joins with `BIKESHARE_SPARK_MASTER=spark://127.0.0.1:<port>`.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pyspark

from devstack import paths
from devstack.components import SETUP_HINT
from devstack.errors import MissingDependency
from devstack.process import ManagedProcess

SPARK_HOME = Path(pyspark.__file__).resolve().parent
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"
# Each worker offers one core and enough memory for one executor of EXECUTOR_MEMORY.
WORKER_CORES = 1
WORKER_MEMORY = "768m"
EXECUTOR_MEMORY = "512m"
DAEMON_MEMORY = "256m"


def spark_env(extra_opts: str = "") -> dict[str, str]:
    """The environment every Spark daemon of the local cluster runs with."""
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": str(paths.VENV_BIN / "python"),
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        "SPARK_NO_DAEMONIZE": "1",
    }
    if extra_opts:
        env["SPARK_DAEMON_JAVA_OPTS"] = extra_opts
    return env


def driver_submit_args() -> str:
    """PYSPARK_SUBMIT_ARGS for a driver on this cluster: small executors, one per worker core."""
    return (
        f"--conf spark.executor.memory={EXECUTOR_MEMORY} --conf spark.executor.cores={WORKER_CORES} "
        "--conf spark.cores.max=2 pyspark-shell"
    )


def _check_installed() -> None:
    if not SPARK_CLASS.exists():
        raise MissingDependency(f"spark: {SPARK_CLASS} is missing (pyspark not installed?); {SETUP_HINT}")


def master_status(ui_port: int) -> dict[str, object] | None:
    """The master's own JSON status page (workers, apps), or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as response:
            data = json.loads(response.read())
            return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


class SparkMaster:
    def __init__(self, state: Path, port: int, ui_port: int, logs: Path) -> None:
        _check_installed()
        self.port, self.ui_port = port, ui_port
        self.url = f"spark://127.0.0.1:{port}"
        argv = [
            str(SPARK_CLASS),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui_port),
        ]
        # The REST submission server would bind the fixed port 6066 in every stack: off.
        env = spark_env("-Dspark.master.rest.enabled=false")
        self.process = ManagedProcess("spark-master", argv, logs / "spark-master.log", env=env, cwd=state)

    def ready(self) -> bool:
        status = master_status(self.ui_port)
        return status is not None and status.get("status") == "ALIVE"

    def alive_workers(self) -> int:
        status = master_status(self.ui_port) or {}
        alive = status.get("aliveworkers", 0)
        return alive if isinstance(alive, int) else 0


class SparkWorker:
    def __init__(self, state: Path, index: int, master: SparkMaster, port: int, ui_port: int, logs: Path) -> None:
        _check_installed()
        self.name = f"spark-worker-{index}"
        self.ui_port = ui_port
        work_dir = state / self.name
        work_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(SPARK_CLASS),
            "org.apache.spark.deploy.worker.Worker",
            master.url,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui_port),
            "--cores",
            str(WORKER_CORES),
            "--memory",
            WORKER_MEMORY,
            "--work-dir",
            str(work_dir),
        ]
        self.process = ManagedProcess(self.name, argv, logs / f"{self.name}.log", env=spark_env(), cwd=work_dir)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=2) as response:
                return bool(json.loads(response.read()).get("masterurl"))
        except (OSError, ValueError):
            return False
