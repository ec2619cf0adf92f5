"""What the map page needs besides the stations: its settings (`/api/map-config`) and the charting
library (uPlot, installed from npm, served here: no CDN).

The tile URL is a setting (`BIKESHARE_TILE_URL`); the page falls back to a plain background when the
tile server cannot be reached. A Content-Security-Policy must allow the tile host in `img-src`
(`tile_origin` gives it).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from quart import Blueprint, Response, jsonify, send_from_directory

from services.web.settings import WebSettings


def tile_origin(tile_url: str) -> str | None:
    """`scheme://host[:port]` of the tile template (None without tiles), for the CSP's img-src."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "s"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    # A `{s}.host` template spreads over subdomains: CSP's `*.host` wildcard covers them all.
    host = "*" + parts.netloc[1:] if tile_url.split("://", 1)[-1].startswith("{s}") else parts.netloc
    return f"{parts.scheme}://{host}"


def map_page_blueprint(settings: WebSettings) -> Blueprint:
    bp = Blueprint("map_page", __name__)

    @bp.get("/api/map-config")
    async def map_config() -> Response:
        return jsonify(
            {
                "tile_url": settings.tile_url if tile_origin(settings.tile_url) else "",
                "tile_attribution": settings.tile_attribution,
            }
        )

    @bp.get("/vendor/uplot/<path:name>")
    async def uplot(name: str) -> Response:
        return await send_from_directory(settings.uplot_dir, name)

    return bp
