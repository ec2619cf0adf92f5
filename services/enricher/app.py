"""The faust app: one agent on the raw topic writing the clean and dead-letter topics.

Scale by starting more workers (`python -m services.enricher` again, same app id): Kafka spreads the
raw topic's partitions over them. Events are keyed by station id, so a station's events stay ordered.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import faust
from prometheus_client import Counter

from services.enricher.normalise import Rejection, normalise
from services.enricher.settings import EnricherSettings
from services.enricher.stations import StationCatalogue
from shared import topics
from shared.events import DeadLetter, encode

logger = logging.getLogger(__name__)

CLEANED = Counter("enricher_events_cleaned_total", "Events published to the clean topic")
REJECTED = Counter("enricher_events_dead_lettered_total", "Events sent to the dead-letter topic")


def create_app(settings: EnricherSettings) -> faust.App:
    catalogue = StationCatalogue.from_gbfs(settings.station_catalogue)
    logger.info("station catalogue: %d stations from %s", len(catalogue), settings.station_catalogue)
    app = faust.App(
        settings.app_id,
        broker=settings.faust_broker,
        store="memory://",
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        consumer_auto_offset_reset=settings.auto_offset_reset,
        web_enabled=False,
        producer_acks=-1,
    )
    raw = app.topic(topics.RAW, key_type=bytes, value_type=bytes)
    clean = app.topic(topics.CLEAN, key_type=bytes, value_type=bytes)
    dead = app.topic(topics.DEAD_LETTER, key_type=bytes, value_type=bytes)

    @app.agent(raw)
    async def enrich(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            where = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
            result = normalise(event.value, catalogue)
            if isinstance(result, Rejection):
                REJECTED.inc()
                letter = DeadLetter(
                    stage="enricher",
                    reason=result.reason,
                    event_id=result.event_id,
                    source=f"{message.topic}/{message.partition}@{message.offset}",
                    payload=event.value.decode(errors="replace"),
                    failed_at=datetime.now(UTC),
                )
                await dead.send(key=event.key, value=encode(letter))
                logger.warning("dead-lettered: %s", result.reason, extra={**where, "event_id": result.event_id})
            else:
                CLEANED.inc()
                await clean.send(key=result.station_id.encode(), value=encode(result))
                logger.debug("cleaned", extra={**where, "event_id": result.event_id})

    return app
