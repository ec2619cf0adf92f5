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
    max_offsets_per_trigger: int | None = Field(default=None, ge=1)
    shuffle_partitions: int = Field(default=3, ge=1)
    driver_memory: str = "1g"
    station_catalogue: str = Field(
        default=str(ROOT / "data" / "stations" / "station_information.json"),
        description="GBFS station_information file or URL: canonical stations, names, capacity (free docks)",
    )
