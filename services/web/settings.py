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
