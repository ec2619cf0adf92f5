"""The web service's settings (env prefix BIKESHARE_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PostgresDsn

from shared.settings import ServiceSettings

HERE = Path(__file__).resolve().parent


class WebSettings(ServiceSettings):
    postgres_dsn: PostgresDsn
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=0, le=65535)
    pool_size: int = Field(default=5, ge=1)
    leaflet_dir: Path = HERE / "node_modules" / "leaflet" / "dist"
    # The map page (services/web/map_page.py): tiles are optional, the stations draw without them.
    uplot_dir: Path = HERE / "node_modules" / "uplot" / "dist"
    tile_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        max_length=500,
        description="Leaflet tile URL template; empty: no tiles (stations on a plain background)",
    )
    tile_attribution: str = Field(default="© OpenStreetMap contributors", max_length=200)
