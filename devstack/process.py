"""Child processes with a log file, a readiness check bounded by a deadline, and a clean stop."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from devstack.errors import NotReady, PortInUse

logger = logging.getLogger(__name__)


def ensure_port_free(component: str, port: int, host: str = "127.0.0.1") -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(
                f"{component}: port {host}:{port} is already in use ({exc.strerror}). Stop whatever holds it "
                f"(`ss -ltnp 'sport = :{port}'` shows it; `./dev down` stops an earlier stack) "
                f"or choose other ports with BIKESHARE_STACK_PORT_BASE."
            ) from None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    what: str,
    check: Callable[[], bool],
    deadline_s: float,
    poll_s: float = 0.2,
    alive: Callable[[], str | None] | None = None,
) -> None:
    """Poll `check` until it is true; fail with `what` if the deadline passes or `alive` reports death."""
    end = time.monotonic() + deadline_s
    while True:
        if check():
            return
        if alive is not None and (death := alive()) is not None:
            raise NotReady(f"{what}: {death}")
        if time.monotonic() > end:
            raise NotReady(f"{what}: not ready after {deadline_s:.0f}s")
        time.sleep(poll_s)


class ManagedProcess:
    """One child process writing to `log_path`, started in its own session so signals reach its tree."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
            )
        logger.info("%s started (pid %d, log %s)", self.name, self.proc.pid, self.log_path)

    def death(self) -> str | None:
        """None while running; otherwise how it ended and the end of its log."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"exited with code {self.proc.returncode}; last log lines of {self.log_path}:\n{self.tail()}"

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def wait_ready(self, check: Callable[[], bool], deadline_s: float) -> None:
        wait_until(self.name, check, deadline_s, alive=self.death)

    def stop(self, grace_s: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in %.0fs; killing it", self.name, grace_s)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        logger.info("%s stopped", self.name)
