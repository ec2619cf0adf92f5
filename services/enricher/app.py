"""The faust app: one agent on the raw topic writing the clean and dead-letter topics, in batches.

Throughput comes from doing per batch what faust would otherwise do per event:

* the raw topic carries frames (`shared.frames`: a JSON array of events per record, written by the
  producer), so faust's per-record consume path (~85 µs of CPU) is paid once per few hundred events;
  a record holding one event (a tester's hand-written message) is taken too;
* the agent takes up to `BIKESHARE_ENRICHER_BATCH_MAX` records at a time (`stream.take_events`, waiting
  at most `BIKESHARE_ENRICHER_BATCH_WITHIN_S`), normalises every event, packs the clean ones into frames
  per clean-topic partition (a station's partition is its id's murmur2, as a keyed send would choose),
  hands the frames to the producer's buffer (no awaited round trip per event) and then awaits the
  batch's deliveries once; each bad event is its own dead letter (source `topic/partition@offset#index`);
* the producer lingers a few milliseconds and compresses (lz4), so a batch leaves in a few requests;
* `cython_optimizations` and a monitor without per-event bookkeeping cut faust's own cost per event.

Delivery: the body returns (and faust acks the batch's offsets) only after every clean record and dead
letter of the batch is acknowledged by the broker, so a committed offset never names an unpublished
event. A crash re-reads from the last commit: duplicates, which the sink drops by event id, never loss.
A failed delivery raises, the worker stops uncommitted and restarts from the last commit.

Scale by starting more workers (`python -m services.enricher` again, same app id): Kafka spreads the
raw topic's partitions over them. A station's events stay in one partition of each topic, in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust.sensors.base import Sensor
from prometheus_client import Counter, Histogram

from services.enricher.normalise import Rejection, TimeWindow, normalise
from services.enricher.settings import EnricherSettings
from services.enricher.stations import StationCatalogue
from shared import limits, topics
from shared.events import DeadLetter, encode
from shared.frames import FrameBuilder, FrameError, is_frame, split

logger = logging.getLogger(__name__)

EXIT_UNPUBLISHED = 75
"""Exit code after a failed delivery (EX_TEMPFAIL): restart the worker; it resumes from the last commit."""

CLEANED = Counter("enricher_events_cleaned_total", "Events published to the clean topic")
REJECTED = Counter("enricher_events_dead_lettered_total", "Events sent to the dead-letter topic")
BATCH_SIZE = Histogram(
    "enricher_batch_events", "Events per agent batch", buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000)
)


class QuietMonitor(faust.Monitor):
    """faust's Monitor keeps per-event and per-send statistics for its web views (off here): skip them."""

    on_message_in = Sensor.on_message_in
    on_stream_event_in = Sensor.on_stream_event_in
    on_stream_event_out = Sensor.on_stream_event_out
    on_message_out = Sensor.on_message_out
    on_send_initiated = Sensor.on_send_initiated
    on_send_completed = Sensor.on_send_completed


def dead_letter(reason: str, event_id: str | None, source: str, payload: bytes) -> bytes:
    """A dead letter whose payload and reason are clipped to `shared.limits`, so it always fits the topic."""
    letter = DeadLetter(
        stage="enricher",
        reason=limits.clip(reason, limits.DEAD_LETTER_REASON_MAX),
        event_id=event_id,
        source=source,
        payload=limits.clip(payload.decode(errors="replace"), limits.DEAD_LETTER_PAYLOAD_MAX),
        failed_at=datetime.now(UTC),
    )
    return encode(letter)


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
        cython_optimizations=True,
        Monitor=QuietMonitor,
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
        consumer_max_fetch_size=settings.max_fetch_bytes,
        producer_acks=-1,
        producer_linger=settings.producer_linger_s,
        producer_max_batch_size=settings.producer_max_batch_bytes,
        producer_compression_type=settings.producer_compression,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_request_timeout=max(90.0, settings.session_timeout_s + 5),
        consumer_group_instance_id=settings.instance_id,
    )
    raw = app.topic(topics.RAW, key_type=bytes, value_type=bytes)
    # Declared so the worker creates them when missing (same partitions as the raw topic).
    app.topic(topics.CLEAN, key_type=bytes, value_type=bytes)
    app.topic(topics.DEAD_LETTER, key_type=bytes, value_type=bytes)

    partition_of: dict[str, int] = {}
    clean_partitions: list[int] = []

    async def clean_partition(station_id: str) -> int:
        """The clean topic's partition for a station (the Java client's murmur2 of its id, as a keyed send)."""
        found = partition_of.get(station_id)
        if found is None:
            if not clean_partitions:
                # faust's Producer has no public metadata call; its aiokafka producer has.
                kafka: Any = app.producer
                clean_partitions.extend(sorted(await kafka._ensure_producer().partitions_for(topics.CLEAN)))
            found = partition_of[station_id] = DefaultPartitioner()(
                station_id.encode(), clean_partitions, clean_partitions
            )
        return found

    async def publish(records: Sequence[Any]) -> None:
        window = TimeWindow(settings.earliest_event_time, settings.max_future).refreshed()
        producer = app.producer
        frames = FrameBuilder(settings.frame_events)
        deliveries: list[Awaitable[Any]] = []
        cleaned = rejected = 0

        async def reject(reason: str, event_id: str | None, message: Any, source: str, value: bytes) -> None:
            letter = dead_letter(reason, event_id, source, value)
            deliveries.append(await producer.send(topics.DEAD_LETTER, None, letter, None, None, None))
            logger.warning(
                "dead-lettered: %s",
                limits.clip(reason, 300),
                extra={
                    "topic": message.topic,
                    "partition": message.partition,
                    "offset": message.offset,
                    "event_id": event_id,
                },
            )

        for record in records:
            message = record.message
            coordinates = f"{message.topic}/{message.partition}@{message.offset}"
            value: bytes = record.value or b""
            try:
                parts = split(value)
            except FrameError as exc:
                await reject(f"not a TripEvent or a frame of them: {exc}", None, message, coordinates, value)
                rejected += 1
                continue
            framed = is_frame(value)
            for index, part in enumerate(parts):
                result = normalise(part, catalogue, window)
                if isinstance(result, Rejection):
                    source = f"{coordinates}#{index}" if framed else coordinates
                    await reject(result.reason, result.event_id, message, source, part)
                    rejected += 1
                    continue
                partition = await clean_partition(result.station_id)
                if (frame := frames.add(partition, encode(result))) is not None:
                    deliveries.append(await producer.send(topics.CLEAN, None, frame, partition, None, None))
                cleaned += 1
        for partition, frame in frames.drain():
            deliveries.append(await producer.send(topics.CLEAN, None, frame, partition, None, None))
        # One wait per batch: faust acks the batch's offsets when this body returns, so only after all
        # are delivered. It also acks them when the body raises (streams.py take_events' finally), and a
        # stopping worker commits acked offsets: after a failed delivery the only safe move is to stop at
        # once, uncommitted, and let the restart re-read the batch (duplicates, never loss).
        try:
            await asyncio.gather(*deliveries)
        except Exception:
            logger.critical("a batch of %d records could not be published; exiting without commit", len(records))
            logging.shutdown()
            os._exit(EXIT_UNPUBLISHED)
        CLEANED.inc(cleaned)
        REJECTED.inc(rejected)
        BATCH_SIZE.observe(cleaned + rejected)

    @app.agent(raw)
    async def enrich(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            await publish(events)

    return app
