"""The settings base every service's own settings class extends (pydantic-settings).

Values come from `BIKESHARE_*` environment variables; secrets (AWS keys, database passwords inside the
DSN) only ever come from the environment. Required fields have no default, so a service started
without them stops at once with pydantic's message naming each missing variable.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BIKESHARE_"
S = TypeVar("S", bound=BaseSettings)


class ServiceSettings(BaseSettings):
    """Logging and the health/metrics endpoint, common to all services."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port (logged)")


class KafkaSettings(ServiceSettings):
    """For services that talk to Kafka."""

    kafka_bootstrap_servers: str = Field(description="host:port[,host:port...]")
    startup_deadline_s: float = Field(
        default=10.0, gt=0, description="at startup, how long a wrong Kafka/Spark address is retried before exit 2"
    )
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)


def load_settings(cls: type[S]) -> S:
    """Build a service's settings, or exit with one line per missing/invalid environment variable."""
    try:
        return cls()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            variable = name if name.startswith("AWS_") else f"{ENV_PREFIX}{name}"
            lines.append(f"  {variable}: {error['msg']}")
        raise SystemExit(f"{cls.__name__}: fix these environment variables:\n" + "\n".join(lines)) from None
