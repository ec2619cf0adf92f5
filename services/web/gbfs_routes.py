"""The GBFS feed's routes: `/gbfs/<version>/<file>.json` (also without `.json`), from the live state.

Each file is built and encoded once per state version (and base URL); `Cache-Control: max-age` is
the feed's ttl, so HTTP caches keep a file exactly as long as the feed says it stays true.
"""

from __future__ import annotations

from quart import Blueprint, Response, abort, request

from services.web.gbfs_feed import FILES, VERSIONS, System, document
from services.web.responses import encoded_response
from services.web.state import LiveState


def gbfs_blueprint(state: LiveState, system: System, public_url: str = "") -> Blueprint:
    bp = Blueprint("gbfs", __name__)

    def serve(version: str, name: str) -> Response:
        if version not in VERSIONS or name not in FILES:
            abort(404, f"no GBFS file {version[:8]!r}/{name[:40]!r}; start at /gbfs/2.3/gbfs.json or 3.0")
        if not state.loaded:
            abort(503, "the feed is not loaded yet: postgres is unreachable; retry shortly")
        base = public_url or request.host_url
        updated = state.as_of or state.loaded_at
        assert updated is not None
        encoded = state.encoded(
            ("gbfs", version, name, base), lambda: document(version, name, state.stations, updated, system, base)
        )
        if encoded is None:
            abort(404, f"GBFS {version}: {name} is not published now (see /gbfs/{version}/gbfs.json)")
        return encoded_response(encoded, f"public, max-age={system.ttl}")

    @bp.get("/gbfs/<version>/<name>.json")
    async def gbfs_file(version: str, name: str) -> Response:
        return serve(version, name)

    @bp.get("/gbfs/<version>/<name>")
    async def gbfs_file_bare(version: str, name: str) -> Response:
        return serve(version, name)

    return bp
