"""The web service's settings (env prefix BIKESHARE_)."""

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
    pool_size: int = Field(default=5, ge=1)
    leaflet_dir: Path = HERE / "node_modules" / "leaflet" / "dist"

    # Address search (services/web/search.py): "within N blocks", per-client rate, optional Nominatim.
    search_blocks: float = Field(default=3.0, gt=0, le=20, description="the search radius in blocks")
    search_rate_per_minute: float = Field(default=60.0, gt=0, description="searches a minute per client")
    search_burst: int = Field(default=20, ge=1, description="searches a client may make at once")
    search_nominatim_domain: str | None = Field(default=None, description="online fallback host[:port]; off if unset")
    search_nominatim_scheme: Literal["http", "https"] = "https"
    search_user_agent: str = "bikeshare-stream-search"
    search_reload_s: float = Field(default=60.0, gt=0, description="full reload of the search index")
