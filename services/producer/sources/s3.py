"""S3 objects (aiobotocore): listing, and a seekable file over ranged GETs so zips stream, never held whole.

`RangedObject` is what `zipfile` and the line reader read: each buffer refill is one ranged GET
(`BUFFER_BYTES`), pinned to the ETag seen at listing time. A lost connection or a transient error is
retried from the same offset (tenacity, exponential backoff, `ATTEMPTS` tries); an object deleted or
replaced meanwhile, or still failing after the retries, raises `SourceError` naming it, and the reader
rejects that file and goes on with the others.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any, BinaryIO

from aiobotocore.session import get_session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from services.producer.settings import ProducerSettings
from services.producer.sources import TRIP_FILE_SUFFIXES, SourceError, SourceObject

logger = logging.getLogger(__name__)

BUFFER_BYTES = 8 * 1024 * 1024
ATTEMPTS = 5
_GONE = frozenset({"NoSuchKey", "404", "NoSuchBucket", "PreconditionFailed", "412", "AccessDenied", "403"})


@asynccontextmanager
async def s3_client(settings: ProducerSettings) -> AsyncIterator[Any]:
    """A client for the settings' endpoint; unsigned requests when `s3_anonymous` (public buckets)."""

    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    config = Config(
        signature_version=UNSIGNED if settings.s3_anonymous else None,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=4,
    )
    async with get_session().create_client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=None if settings.s3_anonymous else secret(settings.aws_access_key_id),
        aws_secret_access_key=None if settings.s3_anonymous else secret(settings.aws_secret_access_key),
        config=config,
    ) as client:
        yield client


def s3_url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


async def list_objects(s3: Any, bucket: str, prefix: str) -> list[SourceObject]:
    """Every .csv/.zip object under `prefix`."""
    found: list[SourceObject] = []
    try:
        async for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(TRIP_FILE_SUFFIXES):
                    found.append(SourceObject(s3_url(bucket, item["Key"]), item["Size"], item["ETag"]))
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"listing s3://{bucket}/{prefix} failed: {exc}") from exc
    return found


async def head_object(s3: Any, bucket: str, key: str) -> SourceObject:
    try:
        head = await s3.head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise SourceError(f"s3://{bucket}/{key} cannot be read: {exc}") from exc
    return SourceObject(s3_url(bucket, key), head["ContentLength"], head["ETag"])


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") not in _GONE
    return isinstance(exc, BotoCoreError | OSError | asyncio.TimeoutError | EOFError)


class RangedObject(io.RawIOBase):
    """A read-only, seekable file over one S3 object; used from a worker thread, fetching on `loop`."""

    def __init__(self, s3: Any, loop: asyncio.AbstractEventLoop, obj: SourceObject, chunk: int = BUFFER_BYTES) -> None:
        super().__init__()
        self.s3, self.loop, self.obj, self.chunk = s3, loop, obj, chunk
        self.bucket, self.key = split_url(obj.url)
        self.position = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.obj.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self.obj.size - self.position)
        if wanted <= 0:
            return 0
        data = self._fetch(self.position, wanted)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def readall(self) -> bytes:
        """The rest of the object, in `chunk`-sized ranged GETs (io's default would ask 8 KiB at a time)."""
        parts = []
        while self.position < self.obj.size:
            parts.append(self._fetch(self.position, min(self.chunk, self.obj.size - self.position)))
            self.position += len(parts[-1])
        return b"".join(parts)

    def _fetch(self, start: int, length: int) -> bytes:
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(ATTEMPTS),
                wait=wait_exponential(multiplier=0.2, max=5),
                retry=retry_if_exception(_transient),
                reraise=True,
            ):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        logger.warning(
                            "retrying %s from byte %d (attempt %d)",
                            self.obj.url,
                            start,
                            attempt.retry_state.attempt_number,
                        )
                    future: Future[bytes] = asyncio.run_coroutine_threadsafe(self._get(start, length), self.loop)
                    return future.result()
        except (TimeoutError, ClientError, BotoCoreError, OSError, EOFError) as exc:
            raise SourceError(f"{self.obj.url}: reading bytes {start}-{start + length - 1} failed: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - Retrying either returns or raises

    async def _get(self, start: int, length: int) -> bytes:
        self.requests += 1
        response = await self.s3.get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{start + length - 1}", IfMatch=self.obj.version
        )
        async with response["Body"] as body:
            data: bytes = await body.read()
        if len(data) != length:
            raise EOFError(f"got {len(data)} of {length} bytes")
        return data


class S3Source:
    """Opens S3 objects for the reader thread; the client lives on the event loop that created it."""

    def __init__(self, s3: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.s3, self.loop = s3, loop

    def open(self, obj: SourceObject) -> BinaryIO:
        raw = RangedObject(self.s3, self.loop, obj)
        return io.BufferedReader(raw, buffer_size=BUFFER_BYTES)
