"""The enricher's settings (env prefix BIKESHARE_)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field

from shared import limits
from shared.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]


class EnricherSettings(KafkaSettings):
    app_id: str = Field(default="bikeshare-enricher", description="the Kafka consumer group of all workers")
    station_catalogue: str = Field(
        default=str(ROOT / "data" / "stations" / "station_information.json"),
        description="GBFS station_information file or URL: the station catalogue ids are mapped to",
    )
    auto_offset_reset: str = "earliest"

    # Batching (issue 10): one normalise/send loop and one delivery wait per batch, not per event.
    enricher_batch_max: int = Field(default=32, ge=1, description="records (frames or single events) per agent batch")
    enricher_batch_within_s: float = Field(default=0.05, gt=0, description="wait at most this for a full batch")
    stream_buffer_maxsize: int = Field(
        default=256, ge=1, description="faust's per-partition buffer of records (a frame is one record)"
    )
    frame_events: int = Field(
        default=limits.FRAME_EVENTS_DEFAULT,
        ge=1,
        le=limits.FRAME_EVENTS_MAX,
        description="clean events per clean-topic record (a frame, shared/frames.py)",
    )
    max_fetch_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="consumer fetch size per partition")
    producer_linger_s: float = Field(default=0.005, ge=0, description="producer linger (seconds)")
    producer_max_batch_bytes: int = Field(default=512 * 1024, ge=1024, description="producer batch per partition")
    producer_compression: Literal["lz4", "zstd", "snappy", "gzip"] | None = "lz4"

    # Restarts (issue 7): a killed worker's partitions move after the session timeout, not 60 s; with
    # an instance id (static membership) a restarted worker takes its partitions back without a rebalance.
    session_timeout_s: float = Field(default=10.0, ge=6, description="broker_session_timeout")
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    rebalance_timeout_s: float = Field(default=20.0, gt=0)
    enricher_instance_id: str | None = Field(
        default=None, description="static group membership id, unique per worker (e.g. the pod name)"
    )

    # Validation limits (issue 7): the plausible event time range.
    earliest_event_time: AwareDatetime = limits.EARLIEST_EVENT_TIME
    max_future_s: float = Field(default=limits.MAX_FUTURE.total_seconds(), ge=0)

    @property
    def batch_max(self) -> int:
        return self.enricher_batch_max

    @property
    def batch_within_s(self) -> float:
        return self.enricher_batch_within_s

    @property
    def instance_id(self) -> str | None:
        return self.enricher_instance_id

    @property
    def max_future(self) -> timedelta:
        return timedelta(seconds=self.max_future_s)

    @property
    def faust_broker(self) -> str:
        return ";".join(f"kafka://{server.strip()}" for server in self.kafka_bootstrap_servers.split(","))
