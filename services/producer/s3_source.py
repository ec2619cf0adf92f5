"""Reads trip files from S3 with aiobotocore: plain `.csv` and the bucket's `.zip` archives of CSVs."""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from services.producer.settings import ProducerSettings

logger = logging.getLogger(__name__)


class SourceError(Exception):
    """An S3 object or listing could not be read; the message names it."""


@asynccontextmanager
async def s3_client(settings: ProducerSettings) -> AsyncIterator[Any]:
    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    async with get_session().create_client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=secret(settings.aws_access_key_id),
        aws_secret_access_key=secret(settings.aws_secret_access_key),
    ) as client:
        yield client


async def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    try:
        async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith((".csv", ".zip"))]
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"listing s3://{bucket}/{prefix} failed: {exc}") from exc
    return sorted(keys)


async def read_object(s3: Any, bucket: str, key: str) -> bytes:
    try:
        response = await s3.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as body:
            data: bytes = await body.read()
            return data
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"reading s3://{bucket}/{key} failed: {exc}") from exc


def csv_documents(key: str, data: bytes) -> Iterator[tuple[str, Iterator[list[str]]]]:
    """(name, rows) for the object itself, or for each CSV inside a zip archive."""
    if key.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in sorted(archive.namelist()):
                if member.endswith(".csv") and not member.startswith("__MACOSX"):
                    yield f"{key}!{member}", _rows(archive.read(member))
    else:
        yield key, _rows(data)


def _rows(data: bytes) -> Iterator[list[str]]:
    text = data.decode("utf-8-sig", errors="replace")
    return csv.reader(io.StringIO(text, newline=""))
