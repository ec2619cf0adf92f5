"""The benchmark's baselines, each run as its own process beside the real web service:

* `query`: the per-request path the web had before the in-memory state (main at 802008b): Quart and
  hypercorn, one pooled query and one JSON encoding per request, here returning the same documents
  as the live service (every station, and GBFS 2.3 station_status built per request);
* `raw`: the ceiling of this machine's loopback for the same bytes: a bare asyncio protocol that
  answers every request with one prebuilt response (no framework, no parsing beyond the blank line).

    python -m bench.web_baseline query PORT DSN
    python -m bench.web_baseline raw PORT FILE   # FILE holds the complete HTTP response
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, jsonify

from services.web.gbfs_feed import System, document
from services.web.stations import all_stations, data_clock


def query_app(dsn: str) -> Quart:
    app = Quart(__name__)
    pool: dict[str, Any] = {}
    system = System("bench", "bench", "bench@example.org", 5)

    @app.before_serving
    async def start() -> None:
        pool["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=5)

    @app.get("/api/stations")
    async def stations() -> Response:
        async with pool["pool"].acquire() as conn:
            rows = await all_stations(conn, 200)
            clock = await data_clock(conn)
        as_of = clock.as_of.isoformat() if clock.as_of else None
        return jsonify({"stations": [r.as_json() for r in rows], "as_of": as_of, "batch_id": clock.batch_id})

    @app.get("/gbfs/2.3/station_status.json")
    async def station_status() -> Response:
        async with pool["pool"].acquire() as conn:
            rows = await all_stations(conn, 200)
            clock = await data_clock(conn)
        return jsonify(document("2.3", "station_status", rows, clock.as_of or datetime.now(UTC), system, ""))

    return app


class _Raw(asyncio.Protocol):
    response = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        while (end := self.pending.find(b"\r\n\r\n")) >= 0:
            self.pending = self.pending[end + 4 :]
            self.transport.write(self.response)


async def serve_raw(port: int, response: bytes) -> None:
    _Raw.response = response
    server = await asyncio.get_running_loop().create_server(_Raw, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def serve_query(port: int, dsn: str) -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    await serve(query_app(dsn), config)


def main(argv: list[str]) -> int:
    kind, port, arg = argv
    if kind == "raw":
        asyncio.run(serve_raw(int(port), Path(arg).read_bytes()))
    else:
        asyncio.run(serve_query(int(port), arg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
