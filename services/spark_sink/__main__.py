"""`python -m services.spark_sink`: run the streaming query until stopped (SIGTERM/Ctrl-C)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from types import FrameType

from services.spark_sink.batch_writer import BatchWriter
from services.spark_sink.session import build_session
from services.spark_sink.settings import SparkSinkSettings
from services.spark_sink.station_info import load_station_info
from services.spark_sink.stream import read_clean_topic, start_query
from shared.gbfs import GbfsError
from shared.logs import configure_logging
from shared.observability import HealthServer
from shared.postgres import connect
from shared.schema import apply_migrations
from shared.settings import load_settings

logger = logging.getLogger(__name__)


async def migrate(dsn: str, station_catalogue: str) -> None:
    conn = await connect(dsn)
    try:
        await apply_migrations(conn)
        await load_station_info(conn, station_catalogue)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m services.spark_sink",
        description="Structured Streaming from the clean topic into Postgres in micro-batches "
        "(settings from BIKESHARE_* environment variables).",
    ).parse_args(argv)
    settings = load_settings(SparkSinkSettings)
    configure_logging(settings.log_level, settings.log_format)
    dsn = str(settings.postgres_dsn)
    try:
        asyncio.run(migrate(dsn, settings.station_catalogue))
    except GbfsError as exc:
        logger.error("cannot load the station catalogue: %s; fix BIKESHARE_STATION_CATALOGUE", exc)
        return 2
    spark = build_session(settings)
    writer = BatchWriter(dsn)
    query = start_query(read_clean_topic(spark, settings), writer, settings)

    def health() -> dict[str, object]:
        last = writer.last
        return {
            "ok": query.isActive,
            "query": query.name,
            "last_batch": None if last is None else {"id": last.batch_id, "inserted": last.inserted},
        }

    server = HealthServer(settings.metrics_host, settings.metrics_port, health)
    server.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        logger.info("stopping the query (signal %d)", signum)
        query.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        query.awaitTermination()
    finally:
        server.stop()
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
