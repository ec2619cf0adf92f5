"""`python -m services.enricher`: run one faust worker of the enricher (start more to scale out)."""

from __future__ import annotations

import argparse
import logging
import sys

import faust

from services.enricher.app import create_app
from services.enricher.settings import EnricherSettings
from shared.gbfs import GbfsError
from shared.logs import configure_logging
from shared.observability import HealthServer, host_ports, reachable
from shared.settings import load_settings
from shared.startup import StartupError, probe_kafka, run_probes

logger = logging.getLogger(__name__)


class EnricherWorker(faust.Worker):
    """A faust worker that leaves logging to the project's single configuration."""

    settings: EnricherSettings

    def _setup_logging(self) -> None:
        configure_logging(self.settings.log_level, self.settings.log_format)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m services.enricher",
        description="One faust-streaming worker: raw trip events -> clean events / dead letters "
        "(settings from BIKESHARE_* environment variables). Start more to scale out.",
    ).parse_args(argv)
    settings = load_settings(EnricherSettings)
    configure_logging(settings.log_level, settings.log_format)
    try:
        app = create_app(settings)  # reads the station catalogue: a local mistake is named before any wait
        run_probes(probe_kafka(settings.kafka_bootstrap_servers, settings.startup_deadline_s))
    except StartupError as exc:
        logger.error("%s", exc)
        return 2
    except GbfsError as exc:
        logger.error(
            "cannot load the station catalogue: %s; fix BIKESHARE_STATION_CATALOGUE "
            "(a GBFS station_information file or URL)",
            exc,
        )
        return 2
    kafka = host_ports(settings.kafka_bootstrap_servers, 9092)

    def check() -> dict[str, object]:
        kafka_ok = reachable(kafka)
        return {"ok": kafka_ok, "started": bool(app.started), "kafka": "ok" if kafka_ok else "unreachable"}

    health = HealthServer(settings.metrics_host, settings.metrics_port, check)
    health.start()
    worker = EnricherWorker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.settings = settings
    try:
        worker.execute_from_commandline()
    finally:
        health.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
