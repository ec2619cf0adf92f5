"""The hot GETs served at the ASGI level, before Quart: `/api/stations` (no parameters) and the GBFS
files, straight from the state's encoded bytes; and the `/ws` endpoint (`ws_endpoint.py`).

Quart's request machinery (context, routing, hooks, response object) costs more than everything
else a cached answer needs, so these requests skip it. They get the same answers and headers as
the Quart routes: 304 on a matching If-None-Match, gzip when accepted, the security headers, the
per-IP rate limit. Anything else, including every error, goes on to Quart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.web.gbfs_feed import System
from services.web.gbfs_routes import cache_control, gbfs_file
from services.web.security import RateLimiter
from services.web.state import Encoded, LiveState

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class FastPath:
    def __init__(
        self,
        app: ASGIApp,
        state: LiveState,
        system: System,
        limiter: RateLimiter,
        headers: dict[str, str],
        public_url: str,
        on_api: Callable[[], None],
        websocket: ASGIApp,
    ) -> None:
        self._app = app
        self._websocket = websocket
        self._state = state
        self._system = system
        self._limiter = limiter
        self._headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self._public_url = public_url
        self._gbfs_cache = cache_control(system).encode()
        self._on_api = on_api

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            return await self._websocket(scope, receive, send)
        if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
            return await self._app(scope, receive, send)
        found = self._lookup(scope)
        if found is None:
            return await self._app(scope, receive, send)
        client = scope["client"][0] if scope.get("client") else "?"
        if not self._limiter.allow(client):
            return await self._app(scope, receive, send)  # Quart answers 429 (its check refuses too)
        await self._send(found, scope["headers"], send)

    def _lookup(self, scope: dict[str, Any]) -> tuple[Encoded, bytes] | None:
        path: str = scope["path"]
        if path == "/api/stations":
            if not self._state.loaded:
                return None
            self._on_api()
            return self._state.api_encoded(), b"no-cache"
        parts = path.split("/")
        if len(parts) != 4 or parts[1] != "gbfs":
            return None
        name = parts[3].removesuffix(".json")
        encoded = gbfs_file(self._state, self._system, parts[2], name, self._public_url or _base(scope))
        return None if encoded is None else (encoded, self._gbfs_cache)

    async def _send(self, found: tuple[Encoded, bytes], request_headers: list[tuple[bytes, bytes]], send: Any) -> None:
        encoded, cache = found
        matches = gzip = False
        for name, value in request_headers:
            if name == b"if-none-match":
                matches = encoded.etag.encode() in value
            elif name == b"accept-encoding":
                gzip = b"gzip" in value
        headers = [
            *self._headers,
            (b"etag", encoded.etag.encode()),
            (b"cache-control", cache),
            (b"vary", b"Accept-Encoding"),
        ]
        if matches:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = encoded.gzipped if gzip else encoded.body
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if gzip:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _base(scope: dict[str, Any]) -> str:
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
    return f"{scope.get('scheme', 'http')}://{host}/"
