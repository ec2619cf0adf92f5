"""The producer's settings (env prefix BIKESHARE_; AWS keys from the standard AWS_* variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, AwareDatetime, Field, SecretStr

from shared.limits import EARLIEST_EVENT_TIME, FRAME_EVENTS_DEFAULT, FRAME_EVENTS_MAX
from shared.settings import KafkaSettings


class ProducerSettings(KafkaSettings):
    s3_bucket: str = Field(default="", description="bucket for bare keys and --prefix; unused for local paths")
    s3_endpoint_url: str | None = Field(default=None, description="unset: AWS S3 itself")
    s3_region: str = "us-east-1"
    s3_anonymous: bool = Field(default=False, description="unsigned requests, for public buckets (--no-sign-request)")
    aws_access_key_id: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "BIKESHARE_AWS_ACCESS_KEY_ID")
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "BIKESHARE_AWS_SECRET_ACCESS_KEY")
    )
    linger_ms: int = 20
    producer_compression: Literal["none", "zstd", "lz4", "snappy", "gzip"] = Field(
        default="zstd",
        description="of the record batches sent to Kafka: frames of JSON shrink about 5.8x with zstd and the broker,"
        " on the same cores, has that much less to do (aiokafka's lz4 is level 9: slower here)",
    )
    max_batch_bytes: int = Field(default=1024 * 1024, ge=16 * 1024)
    progress_every_s: float = 5.0
    checkpoint_dir: Path = Field(
        default=Path(".local/producer"), description="resume positions and sorted spill files, one directory per run"
    )
    run_events: int = Field(
        default=150_000, ge=1000, description="events sorted in memory per spill run (one run per read worker)"
    )
    read_workers: int | None = Field(
        default=None, ge=1, le=64, description="reading processes; unset: the CPUs, at most 4; 1 = a thread"
    )
    columnar_reading: bool = Field(
        default=True,
        description="read well-formed CSV chunks by columns (pyarrow); false: the csv module row by row (same bytes)",
    )
    frame_events: int = Field(
        default=FRAME_EVENTS_DEFAULT,
        ge=1,
        le=FRAME_EVENTS_MAX,
        description="events per raw-topic record (a frame, shared/frames.py); 1 = one record per event",
    )
    window_events: int = Field(default=50_000, ge=100, description="events per acknowledged (resumable) window")
    plausible_from: AwareDatetime = EARLIEST_EVENT_TIME
    plausible_until: AwareDatetime | None = Field(default=None, description="unset: now + 1 day")
    opening_stock: bool = Field(default=True, description="publish the opening stock before the trips")
