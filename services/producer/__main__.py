"""`python -m services.producer`: replay trip files from S3 into the raw topic, then exit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from services.producer.replay import Replayer
from services.producer.s3_source import SourceError, s3_client
from services.producer.settings import ProducerSettings
from shared.logs import configure_logging
from shared.observability import HealthServer
from shared.settings import load_settings

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.producer",
        description="Replay Citi Bike trip files from S3 as start/end events in event-time order "
        "(settings from BIKESHARE_* environment variables).",
    )
    parser.add_argument("keys", nargs="*", help="object keys to replay (default: every .csv/.zip under --prefix)")
    parser.add_argument("--prefix", default="", help="replay every object under this key prefix")
    parser.add_argument(
        "--speedup",
        type=float,
        default=0.0,
        help="pace by event time, e.g. 3600 = one hour of trips per second (default: no pacing)",
    )
    return parser.parse_args(argv)


async def run(settings: ProducerSettings, keys: list[str], prefix: str, speedup: float) -> int:
    state = {"ok": True, "phase": "starting"}
    health = HealthServer(settings.metrics_host, settings.metrics_port, lambda: dict(state))
    health.start()
    kafka = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.linger_ms,
        max_batch_size=settings.max_batch_bytes,
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
        async with s3_client(settings) as s3:
            report = await Replayer(settings, kafka, s3).run(keys, prefix, speedup)
        state["phase"] = "done"
        logger.info(
            "replay finished: %d files, %d events, %d bad rows dead-lettered, rejected files: %s",
            report.files,
            report.events,
            report.bad_rows,
            report.rejected_files or "none",
        )
        return 1 if report.rejected_files else 0
    except SourceError as exc:
        logger.error("%s; check BIKESHARE_S3_ENDPOINT_URL, BIKESHARE_S3_BUCKET and the AWS_* keys", exc)
        return 2
    finally:
        await kafka.stop()
        health.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings(ProducerSettings)
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(run(settings, args.keys, args.prefix, args.speedup))


if __name__ == "__main__":
    sys.exit(main())
