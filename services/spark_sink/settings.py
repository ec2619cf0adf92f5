"""The Spark sink's settings (env prefix BIKESHARE_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PostgresDsn

from shared.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]


class SparkSinkSettings(KafkaSettings):
    postgres_dsn: PostgresDsn
    spark_checkpoint_dir: Path = Field(description="the query's offsets and commits; keep it to resume")
    spark_jars_dir: Path = Field(description="the spark-sql-kafka connector jars (./dev setup fetches them)")
    spark_master: str = "local[2]"
    trigger_seconds: float = Field(default=5.0, gt=0)
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = Field(
        default=500,
        ge=1,
        description=(
            "clean-topic records per micro-batch at most: a backlog is worked off in bounded batches, not one "
            "huge one. A record is a frame of up to BIKESHARE_FRAME_EVENTS events (500): full frames make it "
            "~235,000 events; a live stream's frames are small (the enricher sends one per partition every "
            "batch, ~60 records/s), so the bound must stay well above 5 s of them or the sink falls behind"
        ),
    )
    kafka_fetch_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Spark's Kafka consumer fetch")
    shuffle_partitions: int = Field(default=3, ge=1)
    driver_memory: str = "1g"
    station_catalogue: str = Field(
        default=str(ROOT / "data" / "stations" / "station_information.json"),
        description="GBFS station_information file or URL: canonical stations, names, capacity (free docks)",
    )
    # Retries around the Postgres write (issue 7): transient errors are retried with exponential backoff
    # up to this deadline, then the query stops (exit 1) and a restart resumes from the checkpoint.
    sink_retry_deadline_s: float = Field(default=300.0, gt=0)
    sink_retry_max_wait_s: float = Field(default=5.0, gt=0)
    sink_write_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="one write attempt (a whole batch) at most; a connection closed under it is noticed within 0.5 s",
    )
    sink_pipelined: bool = Field(
        default=True,
        description=(
            "Spark reads and parses batch N+1 while Postgres writes batch N (one write in flight at most); "
            "at start the checkpoint's last batch is rewritten if Postgres lacks it (README, Performance)"
        ),
    )
