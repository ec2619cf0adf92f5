"""The preprocessing job's settings (env prefix BIKESHARE_; AWS keys from the standard AWS_* variables)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from shared.settings import ServiceSettings


class PreprocessSettings(ServiceSettings):
    s3_bucket: str
    s3_endpoint_url: str | None = Field(default=None, description="unset: AWS S3 itself")
    s3_region: str = "us-east-1"
    aws_access_key_id: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "BIKESHARE_AWS_ACCESS_KEY_ID")
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "BIKESHARE_AWS_SECRET_ACCESS_KEY")
    )
    spark_master: str = "local[2]"
    driver_memory: str = "1g"
    shuffle_partitions: int = Field(default=3, ge=1)
