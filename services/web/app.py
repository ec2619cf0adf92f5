"""The Quart app, assembled: the map page and Leaflet (served locally), the stations API and the
websocket from the in-memory state, the GBFS feed, health and metrics, security headers and limits."""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from quart import Quart, Response, abort, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from services.web.batch_listener import BatchListener
from services.web.broadcaster import Broadcaster
from services.web.fast_path import FastPath
from services.web.gbfs_feed import System
from services.web.gbfs_routes import gbfs_blueprint
from services.web.history import history_blueprint
from services.web.map_page import map_page_blueprint, tile_origin
from services.web.responses import encoded_response
from services.web.search import register_search
from services.web.security import (
    BadParameter,
    ConnectionLimiter,
    RateLimiter,
    check_known,
    parse_moment,
    security_headers,
)
from services.web.settings import WebSettings
from services.web.state import LiveState
from services.web.ws_endpoint import WebsocketEndpoint

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
REQUESTS = Counter("web_api_requests_total", "Stations API requests")
LIMITED = Counter("web_requests_limited_total", "Requests and websockets refused by a per-client limit")
CLIENTS = Gauge("web_websocket_clients", "Connected websocket clients")
LIMITED_PATHS = ("/api/", "/gbfs/")
MAX_INCOMING = 20  # messages a websocket client may send (it has nothing to say); more closes it


@dataclass
class Parts:
    """What the app is made of (tests and benchmarks reach into it through `app.config["PARTS"]`)."""

    state: LiveState
    broadcaster: Broadcaster
    listener: BatchListener
    pool: Any = None


def create_app(settings: WebSettings) -> Quart:
    app = Quart(__name__, static_folder=None)
    dsn = str(settings.postgres_dsn)
    state = LiveState()
    broadcaster = Broadcaster(settings.ws_backlog_messages, settings.ws_backlog_bytes)
    listener = BatchListener(
        dsn, state, broadcaster, settings.station_name_max_chars, settings.listen_probe_s, settings.reconnect_max_wait_s
    )
    parts = app.config["PARTS"] = Parts(state, broadcaster, listener)
    limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    sockets = ConnectionLimiter(settings.ws_max_per_ip, settings.ws_max_clients)
    # Map tiles are the only third-party origin the page may load (Content-Security-Policy img-src).
    headers = security_headers(tile_origin(settings.tile_url) or "")
    system = System(
        settings.gbfs_system_id, settings.gbfs_system_name, settings.gbfs_feed_contact_email, settings.gbfs_ttl_s
    )
    app.register_blueprint(gbfs_blueprint(state, system, settings.public_url))
    app.register_blueprint(history_blueprint(lambda: parts.pool))
    app.register_blueprint(map_page_blueprint(settings))
    header_list = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    ws = WebsocketEndpoint(broadcaster, state, sockets, header_list, CLIENTS.set, LIMITED.inc, MAX_INCOMING)
    fast = FastPath(app.asgi_app, state, system, limiter, headers, settings.public_url, REQUESTS.inc, ws)
    app.asgi_app = fast  # type: ignore[method-assign,assignment]  # ASGI middleware, as Quart documents

    @app.before_serving
    async def start_clients() -> None:
        # min_size=0: the pool (history queries) connects on demand, so a database that is down
        # does not stop the web from starting; the listener reconnects by itself.
        parts.pool = await asyncpg.create_pool(dsn, min_size=0, max_size=settings.pool_size)
        await listener.start()

    @app.after_serving
    async def stop_clients() -> None:
        await listener.stop()
        if parts.pool is not None:
            try:  # a connection stuck on a dead server must not hold the shutdown
                await asyncio.wait_for(parts.pool.close(), 5)
            except TimeoutError:
                parts.pool.terminate()

    @app.before_request
    async def limit_requests() -> None:
        if request.path.startswith(LIMITED_PATHS) and not limiter.allow(request.remote_addr or "?"):
            LIMITED.inc()
            abort(429, f"more than {settings.rate_limit_per_s:g} requests/s from your address; slow down")

    @app.after_request
    async def add_headers(response: Response) -> Response:
        response.headers.update(headers)
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        response = jsonify({"error": error.description, "status": error.code})
        response.status_code = error.code or 500
        if error.code == 429:
            response.headers["Retry-After"] = str(limiter.retry_after_s())
        return response

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
        try:
            check_known(request.args, ["at"])
            at = parse_moment("at", request.args["at"]) if "at" in request.args else None
        except BadParameter as exc:
            abort(400, str(exc))
        if at is not None:
            return await _stations_at(parts.pool, at)
        if not state.loaded:
            abort(503, "stations are not loaded yet: postgres is unreachable; retry shortly")
        return encoded_response(state.api_encoded())

    @app.get("/health")
    async def health() -> tuple[Response, int]:
        ok = listener.connected
        doc = {
            "ok": ok,
            "postgres": "listening" if ok else "lost: reconnecting",
            "stations": len(state),
            **state.clock_json(),
            "websocket_clients": broadcaster.clients,
            "websocket_resyncs": broadcaster.resyncs,
            "websocket_largest_backlog_bytes": broadcaster.largest_backlog_bytes(),
            "reconnects": listener.reconnects,
        }
        return jsonify(doc), 200 if ok else 503

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), content_type=CONTENT_TYPE_LATEST)

    register_search(app, settings, broadcaster, lambda: parts.pool)  # address search (services/web/search.py)
    return app


async def _stations_at(pool: Any, at: Any) -> Response:
    """`?at=`: the state at a past moment, from the history blueprint when it is installed."""
    try:
        history = importlib.import_module("services.web.history")
    except ModuleNotFoundError:
        abort(501, "?at= needs services.web.history, which this build does not have")
    result = await history.stations_at(pool, at)
    if isinstance(result, Response):
        return result
    if isinstance(result, dict):
        return jsonify(result)
    return jsonify({"stations": list(result), "as_of": at.isoformat(), "batch_id": None})
