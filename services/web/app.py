"""The Quart app: the map page, Leaflet served locally, the stations API, the websocket, health, metrics."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from quart import Quart, Response, jsonify, request, send_from_directory, websocket

from services.web.batch_listener import BatchListener
from services.web.broadcaster import Broadcaster
from services.web.history import history_blueprint, stations_at_response
from services.web.map_page import map_page_blueprint
from services.web.settings import WebSettings
from services.web.stations import stations_with_bikes

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
REQUESTS = Counter("web_api_requests_total", "Stations API requests")
CLIENTS = Gauge("web_websocket_clients", "Connected websocket clients")


@dataclass
class _Clients:
    """What `before_serving` starts and `after_serving` stops."""

    pool: Any = None
    listener: BatchListener | None = None


def create_app(settings: WebSettings) -> Quart:
    app = Quart(__name__, static_folder=None)
    broadcaster = Broadcaster()
    clients = _Clients()
    app.register_blueprint(history_blueprint(lambda: clients.pool))
    app.register_blueprint(map_page_blueprint(settings))

    @app.before_serving
    async def start_clients() -> None:
        dsn = str(settings.postgres_dsn)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=settings.pool_size)
        listener = BatchListener(dsn, pool, broadcaster)
        await listener.start()
        clients.pool, clients.listener = pool, listener

    @app.after_serving
    async def stop_clients() -> None:
        if clients.listener is not None:
            await clients.listener.stop()
        if clients.pool is not None:
            await clients.pool.close()

    @app.get("/")
    async def index() -> Response:
        return await send_from_directory(STATIC, "index.html")

    @app.get("/static/<path:name>")
    async def static_file(name: str) -> Response:
        return await send_from_directory(STATIC, name)

    @app.get("/vendor/leaflet/<path:name>")
    async def leaflet(name: str) -> Response:
        return await send_from_directory(settings.leaflet_dir, name)

    @app.get("/api/stations")
    async def stations() -> Response | tuple[Response, int]:
        REQUESTS.inc()
        if (at := request.args.get("at")) is not None:  # the map as it was then (services/web/history.py)
            return await stations_at_response(clients.pool, at)
        return jsonify({"stations": await stations_with_bikes(clients.pool)})

    @app.websocket("/ws")
    async def updates() -> None:
        try:
            async with broadcaster.subscribe() as queue:
                CLIENTS.set(broadcaster.clients)
                await websocket.send(json.dumps({"type": "hello"}))
                while True:
                    await websocket.send(await queue.get())
        finally:
            CLIENTS.set(broadcaster.clients)

    @app.get("/health")
    async def health() -> tuple[Response, int]:
        ok = clients.pool is not None
        if ok:
            try:
                await clients.pool.fetchval("SELECT 1")
            except (OSError, asyncpg.PostgresError):
                ok = False
        return jsonify({"ok": ok, "websocket_clients": broadcaster.clients}), 200 if ok else 503

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)

    return app
