"""`python -m services.producer`: replay trip files (S3 or local) into the raw topic, then exit.

Exit codes: 0 all replayed; 1 replayed, but some files or zip members were rejected (named in the
log); 2 a setting, a source or Kafka is unusable, or a reading process died (the message names it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from services.producer.arrays import keep_pandas_out
from services.producer.malloc_tuning import keep_freed_memory
from services.producer.read_workers import Readers, ReadFailed, wanted
from services.producer.replay import Replayer, ReplayOptions
from services.producer.selection import parse_month
from services.producer.settings import ProducerSettings
from services.producer.sources import SourceError
from services.producer.sources.local import looks_local
from shared.logs import configure_logging
from shared.observability import HealthServer
from shared.settings import load_settings
from shared.startup import StartupError, probe_kafka

logger = logging.getLogger(__name__)


def timestamp(text: str) -> datetime:
    """ISO 8601; a time without an offset is UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    i, n = int(index), int(count)
    if not 0 <= i < n:
        raise ValueError(f"shard {text!r}: need 0 <= i < N")
    return i, n


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.producer",
        description="Replay Citi Bike trip files (S3 or local; .csv and .zip of every era) as start/end events "
        "in event-time order. Settings come from BIKESHARE_* environment variables. A killed run restarted with "
        "the same arguments resumes where it stopped (BIKESHARE_CHECKPOINT_DIR).",
    )
    parser.add_argument(
        "targets",
        nargs="*",
        help="keys in BIKESHARE_S3_BUCKET, s3://bucket/key-prefix-or-glob, or local files/directories/globs "
        "(default: the whole bucket, or --prefix)",
    )
    parser.add_argument("--prefix", default=None, help="replay every object under this key prefix")
    parser.add_argument("--from-month", type=parse_month, help="first month to replay, e.g. 2019-01")
    parser.add_argument("--to-month", type=parse_month, help="last month to replay (inclusive)")
    parser.add_argument("--speed", type=float, default=0.0, help="pace at N x real time (0: as fast as possible)")
    parser.add_argument("--speedup", type=float, dest="speed", help=argparse.SUPPRESS)  # the old name
    parser.add_argument("--start", type=timestamp, help="replay events from this time (ISO 8601, UTC if no offset)")
    parser.add_argument("--until", type=timestamp, help="replay events before this time")
    parser.add_argument("--shard", type=shard, default=(0, 1), help="i/N: this producer's share (by station)")
    parser.add_argument("--no-sign-request", action="store_true", help="anonymous S3 access (public buckets)")
    args = parser.parse_args(argv)
    if (args.from_month is None) != (args.to_month is None):
        parser.error("--from-month and --to-month go together")
    return args


async def run(settings: ProducerSettings, options: ReplayOptions, readers: Readers | None = None) -> int:
    try:
        await probe_kafka(settings.kafka_bootstrap_servers, settings.startup_deadline_s)
    except StartupError as exc:
        logger.error("%s", exc)
        return 2
    state = {"ok": True, "phase": "starting"}
    health = HealthServer(settings.metrics_host, settings.metrics_port, lambda: dict(state))
    health.start()
    kafka = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.linger_ms,
        max_batch_size=settings.max_batch_bytes,
        compression_type=None if settings.producer_compression == "none" else settings.producer_compression,
        request_timeout_ms=30000,
    )
    try:
        try:
            await asyncio.wait_for(kafka.start(), timeout=30)
        except (KafkaConnectionError, TimeoutError) as exc:
            logger.error(
                "kafka at %s is unreachable (%s); start it (`./dev up`) or fix BIKESHARE_KAFKA_BOOTSTRAP_SERVERS",
                settings.kafka_bootstrap_servers,
                exc,
            )
            return 2
        state["phase"] = "replaying"
        async with AsyncExitStack() as stack:
            s3 = None
            if options.prefix is not None or not all(_is_local(target) for target in options.targets):
                from services.producer.sources.s3 import s3_client  # aiobotocore: only when a target is on S3

                s3 = await stack.enter_async_context(s3_client(settings))
            report = await Replayer(settings, kafka, s3, readers).run(options)
        state["phase"] = "done"
        return 1 if report.rejected_files else 0
    except SourceError as exc:
        logger.error("%s; check BIKESHARE_S3_ENDPOINT_URL, BIKESHARE_S3_BUCKET and the AWS_* keys", exc)
        return 2
    except ReadFailed as exc:
        logger.error(
            "%s; its log lines above say why (killed: out of memory? lower BIKESHARE_RUN_EVENTS or "
            "BIKESHARE_READ_WORKERS); run again to read from the start",
            exc,
        )
        return 2
    finally:
        await kafka.stop()
        health.stop()


def _is_local(target: str) -> bool:
    return not target.startswith("s3://") and looks_local(target)


def main(argv: list[str] | None = None) -> int:
    keep_pandas_out()
    keep_freed_memory()
    args = parse_args(argv)
    settings = load_settings(ProducerSettings)
    if args.no_sign_request:
        settings = settings.model_copy(update={"s3_anonymous": True})
    configure_logging(settings.log_level, settings.log_format)
    options = ReplayOptions(
        targets=args.targets,
        prefix=args.prefix,
        months=(args.from_month, args.to_month) if args.from_month else None,
        speed=args.speed,
        start=args.start,
        until=args.until,
        shard=args.shard,
    )
    # the reading processes first, forked while this process has no thread, loop or connection: they are
    # ready (no imports of their own) by the time Kafka is reached and the sources are listed
    readers = Readers(wanted(settings)) if wanted(settings) > 1 else None
    try:
        return asyncio.run(run(settings, options, readers))
    finally:
        if readers is not None:
            readers.close()


if __name__ == "__main__":
    sys.exit(main())
