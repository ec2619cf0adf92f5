"""The web service's settings (env prefix BIKESHARE_).

`BIKESHARE_POSTGRES_DSN` is the web's own connection: it only reads (and LISTENs), so in production it
names a login role that is a member of `bikeshare_reader` (migration 0030), never the owner or the
sink's role. The local stack hands the web `bikeshare_web`, which cannot write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PostgresDsn

from shared.settings import ServiceSettings

HERE = Path(__file__).resolve().parent


class WebSettings(ServiceSettings):
    postgres_dsn: PostgresDsn
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=0, le=65535)
    web_workers: int = Field(default=1, ge=1, le=64, description="serving processes on the one port")
    pool_size: int = Field(default=5, ge=1)
    leaflet_dir: Path = HERE / "node_modules" / "leaflet" / "dist"
    # Public base URL of this service, used for the GBFS discovery links; empty: taken from each request.
    public_url: str = ""
    # GBFS: seconds until the feed may change again (the sink's micro-batch trigger is 5 s).
    gbfs_ttl_s: int = Field(default=5, ge=0, le=300)
    gbfs_system_id: str = "bikeshare-stream-nyc"
    gbfs_system_name: str = "Citi Bike (bikeshare-stream replay)"
    gbfs_feed_contact_email: str = "bikeshare-stream@example.org"
    # Station names longer than this are cut (with an ellipsis) before they are kept or sent.
    station_name_max_chars: int = Field(default=200, ge=16, le=10_000)
    # Per client IP: requests per second (token bucket, with a burst); 0 turns the limit off.
    rate_limit_per_s: float = Field(default=50, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # Websockets: at most this many per client IP, and in all.
    ws_max_per_ip: int = Field(default=20, ge=1)
    ws_max_clients: int = Field(default=5000, ge=1)
    # A websocket client's unsent backlog beyond either bound is replaced by one `resync`.
    ws_backlog_messages: int = Field(default=100, ge=1)
    ws_backlog_bytes: int = Field(default=4_000_000, ge=1024)
    # The LISTEN connection is probed this often; reconnect waits back off up to the maximum.
    listen_probe_s: float = Field(default=2.0, gt=0)
    reconnect_max_wait_s: float = Field(default=5.0, gt=0)

    # Address search (services/web/search.py): "within N blocks", per-client rate, optional Nominatim.
    search_blocks: float = Field(default=3.0, gt=0, le=20, description="the search radius in blocks")
    search_rate_per_minute: float = Field(default=60.0, gt=0, description="searches a minute per client")
    search_burst: int = Field(default=20, ge=1, description="searches a client may make at once")
    search_nominatim_domain: str | None = Field(default=None, description="online fallback host[:port]; off if unset")
    search_nominatim_scheme: Literal["http", "https"] = "https"
    search_user_agent: str = "bikeshare-stream-search"
    search_index: Literal["grid", "scan"] = Field(default="grid", description="scan: the naive baseline (bench)")
    search_reload_s: float = Field(default=60.0, gt=0, description="full reload of the search index")
    # The map page (services/web/map_page.py): tiles are optional, the stations draw without them.
    uplot_dir: Path = HERE / "node_modules" / "uplot" / "dist"
    tile_url: str = Field(
        default="https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
        max_length=500,
        description="Leaflet tile URL template; empty: no tiles (stations on a plain background)",
    )
    tile_attribution: str = Field(default="© OpenStreetMap contributors", max_length=200)
