"""A tiny HTTP endpoint serving `GET /health` (JSON) and `GET /metrics` (Prometheus text).

It runs in a daemon thread so it works the same beside asyncio services (producer, enricher) and the
blocking Spark driver. The web service serves the same two paths from its own Quart app instead.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], dict[str, object]]
"""Returns the health document; a falsy "ok" key answers 503."""


class _Handler(BaseHTTPRequestHandler):
    health: HealthCheck

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self._reply(200, CONTENT_TYPE_LATEST, generate_latest())
        elif self.path == "/health":
            doc = self.health()
            self._reply(200 if doc.get("ok") else 503, "application/json", json.dumps(doc).encode())
        else:
            self._reply(404, "text/plain", b"not found: try /health or /metrics\n")

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug(format, *args)


class HealthServer:
    """Start with `start()`, stop with `stop()`; `port` is the bound port (useful with port 0)."""

    def __init__(self, host: str, port: int, health: HealthCheck) -> None:
        handler = type("Handler", (_Handler,), {"health": staticmethod(health)})
        self._server = ThreadingHTTPServer((host, port), handler)
        # stop() waits for the serving loop's next poll: 0.05 s instead of socketserver's 0.5 s (a job like
        # the producer exits that much sooner)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        logger.info("health and metrics on http://%s:%d/health /metrics", *self._server.server_address[:2])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def reachable(servers: list[tuple[str, int]], timeout_s: float = 0.5) -> bool:
    """True when at least one of `servers` accepts a TCP connection: a cheap dependency probe for /health."""
    for host, port in servers:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def host_ports(servers: str, default_port: int) -> list[tuple[str, int]]:
    """ "host:port,host:port" (Kafka bootstrap servers) as (host, port) pairs."""
    found = []
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        found.append((host or "127.0.0.1", int(port or default_port)))
    return found
