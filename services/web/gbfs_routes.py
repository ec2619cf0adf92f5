"""The GBFS feed's routes: `/gbfs/<version>/<file>.json` (also without `.json`), from the live state.

Each file is built and encoded once per state version; only `gbfs.json` depends on the base URL
(`BIKESHARE_PUBLIC_URL`, else the request's scheme and Host). `Cache-Control: max-age` is the feed's
ttl, so HTTP caches keep a file exactly as long as the feed says it stays true. The hot path
(`fast_path.py`) serves the same `gbfs_file()` without entering Quart; these routes answer the rest
(errors, HEAD).
"""

from __future__ import annotations

import re

from quart import Blueprint, Response, abort, request

from services.web.gbfs_feed import FILES, VERSIONS, System, document
from services.web.responses import encoded_response
from services.web.state import Encoded, LiveState

_HOST = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]{1,260}/?$")


def cache_control(system: System) -> str:
    return f"public, max-age={system.ttl}"


def gbfs_file(state: LiveState, system: System, version: str, name: str, base: str) -> Encoded | None:
    """The encoded file, or None when there is none to serve (unknown, not published, not loaded)."""
    if version not in VERSIONS or name not in FILES or not state.loaded or not _HOST.match(base):
        return None
    updated = state.as_of or state.loaded_at
    assert updated is not None
    key = ("gbfs", version, name, base if name == "gbfs" else "")
    return state.encoded(key, lambda: document(version, name, state.stations, updated, system, base))


def gbfs_blueprint(state: LiveState, system: System, public_url: str = "") -> Blueprint:
    bp = Blueprint("gbfs", __name__)

    def serve(version: str, name: str) -> Response:
        base = public_url or request.host_url
        encoded = gbfs_file(state, system, version, name, base)
        if encoded is not None:
            return encoded_response(encoded, cache_control(system))
        if version not in VERSIONS or name not in FILES:
            abort(404, f"no GBFS file {version[:8]!r}/{name[:40]!r}; start at /gbfs/2.3/gbfs.json or 3.0")
        if not state.loaded:
            abort(503, "the feed is not loaded yet: postgres is unreachable; retry shortly")
        if not _HOST.match(base):
            abort(400, "the Host header is not a host name (set BIKESHARE_PUBLIC_URL behind a proxy)")
        abort(404, f"GBFS {version}: {name} is not published now (see /gbfs/{version}/gbfs.json)")

    @bp.get("/gbfs/<version>/<name>.json")
    async def gbfs_json(version: str, name: str) -> Response:
        return serve(version, name)

    @bp.get("/gbfs/<version>/<name>")
    async def gbfs_bare(version: str, name: str) -> Response:
        return serve(version, name)

    return bp
