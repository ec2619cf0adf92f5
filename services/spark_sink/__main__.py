"""`python -m services.spark_sink`: run the streaming query until stopped (SIGTERM/Ctrl-C exit 0).

Stopping: the signal handler only sets an Event. The main thread waits in `awaitTermination(1)` slices
and, once the Event is set, calls `query.stop()` itself. (Calling `stop()` from the handler reuses the
main thread's Py4J connection while it is blocked inside `awaitTermination()`: "reentrant call".)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import threading
from types import FrameType

from py4j.protocol import Py4JError
from pyspark.errors import StreamingQueryException
from pyspark.sql.streaming.query import StreamingQuery

from services.spark_sink.batch_writer import BatchWriter, WriteFailed
from services.spark_sink.last_batch import rewrite_last_batch
from services.spark_sink.session import ConnectorMissing, build_session, connector_jars
from services.spark_sink.settings import SparkSinkSettings
from services.spark_sink.station_info import load_station_info
from services.spark_sink.stream import read_clean_topic, start_query, warm_up
from shared.gbfs import GbfsError
from shared.logs import configure_logging
from shared.observability import HealthServer, host_ports, reachable
from shared.postgres import connect
from shared.schema import apply_migrations
from shared.settings import load_settings
from shared.startup import StartupError, probe_kafka, probe_postgres, probe_spark_master, run_probes

logger = logging.getLogger(__name__)


async def migrate(dsn: str, station_catalogue: str, timeout_s: float) -> None:
    """Migrations and the catalogue, bounded by `timeout_s` (a server that stops answering must not hold
    the start for ever: the process exits 1 and is started again)."""
    conn = await connect(dsn)
    try:
        async with asyncio.timeout(timeout_s):
            await apply_migrations(conn)
            await load_station_info(conn, station_catalogue)
    finally:
        await conn.close(timeout=5)


def endpoints(settings: SparkSinkSettings) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    kafka = host_ports(settings.kafka_bootstrap_servers, 9092)
    postgres = [(h.get("host") or "127.0.0.1", int(h.get("port") or 5432)) for h in settings.postgres_dsn.hosts()]
    return kafka, postgres


def startup_problems(settings: SparkSinkSettings, dsn: str) -> list[str]:
    """Everything wrong with the sink's set-up, one line each, within BIKESHARE_STARTUP_DEADLINE_S: the
    connector jars, then Kafka, the Spark master and Postgres probed side by side."""
    problems = []
    try:
        connector_jars(settings.spark_jars_dir)
    except ConnectorMissing as exc:
        problems.append(str(exc))
    deadline = settings.startup_deadline_s
    try:
        run_probes(
            probe_kafka(settings.kafka_bootstrap_servers, deadline),
            probe_spark_master(settings.spark_master, deadline),
            probe_postgres(dsn, deadline),
        )
    except StartupError as exc:
        problems += str(exc).splitlines()
    return problems


def stop_query(query: StreamingQuery) -> None:
    """Stop after the running batch (bounded: `stop()` interrupts it, and it reruns after a restart)."""
    for _ in range(10):
        if not (query.isActive and query.status.get("isTriggerActive")):
            break
        query.awaitTermination(1)
    query.stop()
    logger.info("query stopped")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m services.spark_sink",
        description="Structured Streaming from the clean topic into Postgres in micro-batches "
        "(settings from BIKESHARE_* environment variables).",
    ).parse_args(argv)
    settings = load_settings(SparkSinkSettings)
    configure_logging(settings.log_level, settings.log_format)
    dsn = str(settings.postgres_dsn)
    if problems := startup_problems(settings, dsn):
        for problem in problems:
            logger.error("%s", problem)
        return 2
    try:
        asyncio.run(migrate(dsn, settings.station_catalogue, settings.sink_write_timeout_s))
    except GbfsError as exc:
        logger.error("cannot load the station catalogue: %s; fix BIKESHARE_STATION_CATALOGUE", exc)
        return 2
    except TimeoutError:
        logger.error(
            "postgres did not finish the migrations and the catalogue within %.0fs "
            "(BIKESHARE_SINK_WRITE_TIMEOUT_S); exiting 1 to be started again",
            settings.sink_write_timeout_s,
        )
        return 1
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping the query after the current batch", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    spark = build_session(settings)
    writer = BatchWriter(
        dsn,
        settings.sink_retry_deadline_s,
        settings.sink_retry_max_wait_s,
        settings.sink_write_timeout_s,
        pipelined=settings.sink_pipelined,
        checkpoint=settings.spark_checkpoint_dir,
    )
    warm_up(spark)
    try:
        writer.apply_pending()  # a batch whose history's half a stop or crash left undone
        rewrite_last_batch(spark, settings, writer)
    except Exception as exc:  # Spark's errors carry whole JVM stacks: one line, and the restart tries again
        logger.error(
            "cannot rewrite the checkpoint's last batch, which postgres lacks: %s; exiting 1 (checkpoint %s)",
            first_line(exc),
            settings.spark_checkpoint_dir,
        )
        writer.close()
        spark.stop()
        return 1
    query = start_query(read_clean_topic(spark, settings), writer, settings)
    kafka, postgres = endpoints(settings)

    def health() -> dict[str, object]:
        last = writer.last
        postgres_ok = writer.postgres_lost is None and reachable(postgres)
        kafka_ok = reachable(kafka)
        # A batch that runs past the write deadline plus a margin for Spark's part is stuck somewhere.
        running_s = writer.running_s()
        stuck = running_s is not None and running_s > settings.sink_write_timeout_s + 120
        return {
            "ok": query.isActive and postgres_ok and kafka_ok and not stuck and not stopping.is_set(),
            "query": query.name,
            "postgres": "ok" if postgres_ok else (writer.postgres_lost or "unreachable"),
            "kafka": "ok" if kafka_ok else "unreachable",
            "last_batch": None if last is None else {"id": last.batch_id, "inserted": last.inserted},
            "batch_running_s": None if running_s is None else round(running_s, 1),
        }

    server = HealthServer(settings.metrics_host, settings.metrics_port, health)
    server.start()
    code = 0
    try:
        while not stopping.is_set():
            if query.awaitTermination(1):
                break  # ended by itself: awaitTermination raised if it failed
            writer.raise_failure()  # a pipelined write that failed for good while no new batch came
        else:
            stop_query(query)
            writer.wait()  # the last pipelined write commits before we exit 0
    except WriteFailed as exc:
        # A pipelined write that failed for good (Postgres gone past BIKESHARE_SINK_RETRY_DEADLINE_S): the
        # restart rewrites it (last_batch) since the checkpoint already holds it as done.
        logger.error("%s; exiting 1 (a restart rewrites the batch)", exc)
        code = 1
    except StreamingQueryException as exc:
        # The batch failed for good (e.g. Postgres gone past BIKESHARE_SINK_RETRY_DEADLINE_S): exit non-zero
        # so the supervisor (or compose's restart:) starts us again; the checkpoint reruns the batch.
        logger.error(
            "the streaming query failed: %s; exiting 1 (a restart resumes from the checkpoint in %s)",
            first_line(exc),
            settings.spark_checkpoint_dir,
        )
        code = 1
    except (Py4JError, ConnectionError) as exc:
        # A signal to the whole process group (Ctrl-C, `kill -- -PGID`) stops Spark's JVM as well: the
        # stop that was asked for has happened; the checkpoint holds, the next start resumes from it.
        if not stopping.is_set():
            raise
        logger.info("the Spark JVM stopped together with us (%s)", type(exc).__name__)
    finally:
        server.stop()
        try:
            writer.close()
        except WriteFailed as exc:
            logger.error("%s; exiting 1 (a restart rewrites the batch)", exc)
            code = 1
        with contextlib.suppress(Py4JError, ConnectionError):
            spark.stop()
    return code


def first_line(exc: BaseException) -> str:
    """A Spark error's first meaningful line (its text carries the JVM and Python stacks after it)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:500] if lines else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
