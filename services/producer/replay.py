"""Event-time replay: read every file, order all events by (event time, event id), publish them.

Progress (events, rate) is logged every few seconds. Bad rows go to the dead-letter topic with
their reason; a file that is not a trip file is reported and skipped; nothing valid is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter

from services.producer.opening_stock import OpeningStock
from services.producer.s3_source import csv_documents, list_keys, read_object
from services.producer.settings import ProducerSettings
from services.producer.trip_rows import BadRow, FormatError, split_rows
from shared import topics
from shared.events import DeadLetter, TripEvent, encode

logger = logging.getLogger(__name__)

EVENTS = Counter("producer_events_published_total", "Trip events published to the raw topic")
BAD_ROWS = Counter("producer_rows_dead_lettered_total", "Rows sent to the dead-letter topic")
BAD_FILES = Counter("producer_files_rejected_total", "Objects that are not trip files")


@dataclass
class ReplayReport:
    files: int = 0
    events: int = 0
    bad_rows: int = 0
    stock_events: int = 0
    rejected_files: list[str] = field(default_factory=list)


def order_events(events: list[TripEvent]) -> list[TripEvent]:
    """Event-time order; the event id breaks ties so every replay publishes the same sequence."""
    return sorted(events, key=lambda e: (e.event_time, e.event_id))


class Replayer:
    def __init__(self, settings: ProducerSettings, kafka: AIOKafkaProducer, s3: object) -> None:
        self.settings = settings
        self.kafka = kafka
        self.s3 = s3
        self.report = ReplayReport()

    async def load(self, keys: list[str]) -> list[TripEvent]:
        events: list[TripEvent] = []
        bucket = self.settings.s3_bucket
        for key in keys:
            data = await read_object(self.s3, bucket, key)
            self.report.files += 1
            try:
                documents = list(csv_documents(key, data))
            except zipfile.BadZipFile as exc:
                self.reject(f"s3://{bucket}/{key}", f"not a readable zip archive ({exc})")
                continue
            for name, rows in documents:
                try:
                    for item in split_rows(rows, f"s3://{bucket}/{name}"):
                        if isinstance(item, BadRow):
                            await self.dead_letter(item)
                        else:
                            events.append(item)
                except FormatError as exc:
                    self.reject(exc.source, exc.reason)
        return events

    def reject(self, where: str, reason: str) -> None:
        """A whole file is unusable: report it and go on with the others (the exit code says so)."""
        BAD_FILES.inc()
        self.report.rejected_files.append(where)
        logger.error("skipping %s: %s", where, reason)

    async def dead_letter(self, bad: BadRow) -> None:
        self.report.bad_rows += 1
        BAD_ROWS.inc()
        letter = DeadLetter(
            stage="producer", reason=bad.reason, source=bad.source, payload=bad.payload, failed_at=datetime.now(UTC)
        )
        await self.kafka.send(topics.DEAD_LETTER, encode(letter))
        logger.warning("dead-lettered row: %s", bad.reason, extra={"topic": topics.DEAD_LETTER, "event_id": bad.source})

    async def publish(self, events: list[TripEvent], speedup: float = 0.0) -> None:
        """Publish in order; with `speedup` > 0, pace by event time (60 = one hour per minute)."""
        started = last_log = time.monotonic()
        first = events[0].event_time if events else None
        pending: list[asyncio.Future[object]] = []
        for n, event in enumerate(events, start=1):
            if speedup > 0 and first is not None:
                due = started + (event.event_time - first).total_seconds() / speedup
                if (delay := due - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
            key = (event.station_id or "").encode()
            pending.append(await self.kafka.send(topics.RAW, encode(event), key=key))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
            if time.monotonic() - last_log >= self.settings.progress_every_s:
                last_log = time.monotonic()
                rate = n / (last_log - started)
                logger.info(
                    "published %d/%d events (%.0f/s), event time %s",
                    n,
                    len(events),
                    rate,
                    event.event_time.isoformat(),
                    extra={"topic": topics.RAW, "event_id": event.event_id},
                )
        await asyncio.gather(*pending)
        EVENTS.inc(len(events))
        self.report.events += len(events)
        elapsed = time.monotonic() - started
        logger.info(
            "published %d events in %.1fs (%.0f/s)",
            len(events),
            elapsed,
            len(events) / elapsed if elapsed else 0.0,
            extra={"topic": topics.RAW},
        )

    async def run(self, keys: list[str] | None, prefix: str, speedup: float) -> ReplayReport:
        keys = keys or await list_keys(self.s3, self.settings.s3_bucket, prefix)
        if not keys:
            logger.warning("no .csv or .zip objects under s3://%s/%s", self.settings.s3_bucket, prefix)
        events = order_events(await self.load(keys))
        # Opening stock goes out first, so the map is populated from the replay's first minute.
        stock = OpeningStock()
        for event in events:
            stock.add(event)
        opening = stock.events()
        self.report.stock_events = len(opening)
        await self.publish(opening + events, speedup)
        return self.report
