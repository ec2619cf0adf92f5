"""The enricher's settings (env prefix BIKESHARE_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]


class EnricherSettings(KafkaSettings):
    app_id: str = Field(default="bikeshare-enricher", description="the Kafka consumer group of all workers")
    station_catalogue: str = Field(
        default=str(ROOT / "data" / "stations" / "station_information.json"),
        description="GBFS station_information file or URL: the station catalogue ids are mapped to",
    )
    auto_offset_reset: str = "earliest"

    @property
    def faust_broker(self) -> str:
        return ";".join(f"kafka://{server.strip()}" for server in self.kafka_bootstrap_servers.split(","))
