"""A replay: select the files, read and sort their events (external sort), publish in event-time order.

Phases: *reading* (a worker thread: sources -> documents -> checked rows -> sorted spill runs and a
dead-letter file), then *publishing* (the event loop: dead letters, opening stock, events merged in
(event time, event id) order, paced or not), resumable from `checkpoint.py`'s position.

Shards (`--shard i/N`) split by station: every shard reads and sorts every file, and publishes the
events whose Kafka key (station id) hashes to it (crc32 mod N), the opening stock of those stations,
and the bad rows whose source hashes to it. Why station and not file: all of a station's events then
come from one producer, in event-time order, so per-station order holds across the whole run (a split
by file would interleave two producers' events of the same station); each event lands in exactly one
shard; and the opening stock, which needs every event (a bike's first move may be at another shard's
station), is computed from all of them. The cost: each shard parses every file.

One bad object never stops the run: any failure while reading a file or a zip member rejects it by name
(rows read before the failure are kept, and the line is named), and the others go on.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import logging
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from services.producer.checkpoint import Checkpoint, Position, fingerprint
from services.producer.documents import NoCsvInside, documents
from services.producer.opening_stock import OpeningStock
from services.producer.parquet_source import ParquetFormatError, is_parquet_key, parquet_events
from services.producer.progress import Progress, peak_rss_mb
from services.producer.publisher import Item, Pacer, Publisher
from services.producer.row_reader import Plausible, read_document
from services.producer.selection import Month, Selection, select
from services.producer.settings import ProducerSettings
from services.producer.sources import Source, SourceError, SourceObject
from services.producer.sources.local import LocalSource
from services.producer.sources.s3 import S3Source
from services.producer.spill import ExternalSorter, LetterFile, merge, read_letters
from services.producer.trip_rows import BadRow, FormatError
from shared import limits, topics
from shared.events import DeadLetter, TripEvent, decode_trip, encode

logger = logging.getLogger(__name__)

EVENTS = Counter("producer_events_published_total", "Items (events, opening stock, dead letters) published")
BAD_ROWS = Counter("producer_rows_dead_lettered_total", "Rows sent to the dead-letter topic")
BAD_FILES = Counter("producer_files_rejected_total", "Objects or zip members rejected by name")


@dataclass(frozen=True)
class ReplayOptions:
    targets: list[str] = field(default_factory=list)
    prefix: str | None = None
    months: tuple[Month, Month] | None = None
    speed: float = 0.0
    start: datetime | None = None
    until: datetime | None = None
    shard: tuple[int, int] = (0, 1)


@dataclass
class ReplayReport:
    files: int = 0
    documents: int = 0
    rows: int = 0
    events: int = 0
    """events read (all shards); `published` counts what this shard sent"""
    bad_rows: int = 0
    stock_events: int = 0
    rejected_files: list[str] = field(default_factory=list)
    published: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    read_seconds: float = 0.0
    publish_seconds: float = 0.0
    peak_rss_mb: float = 0.0


def micros(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def order_events(events: list[TripEvent]) -> list[TripEvent]:
    """The publishing order, in memory (for small inputs, tests and benchmarks): event time, then event id."""
    return sorted(events, key=lambda e: (e.event_time, e.event_id))


class Replayer:
    def __init__(self, settings: ProducerSettings, kafka: Any, s3: Any) -> None:
        self.settings = settings
        self.kafka = kafka
        self.s3 = s3
        self.report = ReplayReport()
        self.progress = Progress(settings.progress_every_s)

    async def run(self, options: ReplayOptions) -> ReplayReport:
        started = time.monotonic()
        selection = await select(self.s3, self.settings.s3_bucket, options.targets, options.prefix, options.months)
        if not selection.objects:
            logger.warning("nothing to replay: no .csv or .zip file matches %s", options.targets or options.prefix)
        checkpoint = Checkpoint(self.settings.checkpoint_dir, self._fingerprint(selection, options))
        position = checkpoint.load()
        self.progress.files_total = len(selection.objects)
        if position.sorted:
            logger.info("resuming %s after %d published items", checkpoint.directory, position.published)
            self.report = ReplayReport(**position.reading)  # the read phase's report, saved with the spill
            self.report.resumed_from = position.published
        else:
            for target, reason in selection.missing:
                self.reject(target, reason)
            self.progress.enter("reading")
            loop = asyncio.get_running_loop()
            await asyncio.to_thread(self._read_all, selection, options, checkpoint, position, loop)
            self.report.read_seconds = round(time.monotonic() - started, 2)
        publishing = time.monotonic()
        await self._publish(checkpoint, position, options)
        self.report.publish_seconds = round(time.monotonic() - publishing, 2)
        checkpoint.remove()
        self.report.seconds = time.monotonic() - started
        self.report.peak_rss_mb = round(peak_rss_mb(), 1)
        self.progress.close()
        logger.info("replay finished", extra={"summary": asdict(self.report)})
        return self.report

    def _fingerprint(self, selection: Selection, options: ReplayOptions) -> str:
        return fingerprint(
            {
                "objects": [(o.url, o.size, o.version) for o in selection.objects],
                "options": asdict(options),
                "kafka": self.settings.kafka_bootstrap_servers,
                "topic": topics.RAW,
                "plausible": (self.settings.plausible_from, self.settings.plausible_until),
                "stock": self.settings.opening_stock,
            }
        )

    # --- reading (worker thread) -----------------------------------------------------------------

    def _read_all(
        self,
        selection: Selection,
        options: ReplayOptions,
        checkpoint: Checkpoint,
        position: Position,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        sorter = ExternalSorter(checkpoint.directory, self.settings.run_events)
        letters = LetterFile(checkpoint.directory / "letters.bin")
        local, remote = LocalSource(), S3Source(self.s3, loop)
        for obj in selection.objects:
            source: Source = remote if obj.url.startswith("s3://") else local
            self._read_object(obj, source, selection, options, sorter, letters)
            self.progress.files_done += 1
        position.runs = [run.name for run in sorter.finish()]
        letters.finish()
        position.letters, position.events, position.sorted = letters.count, sorter.count, True
        position.reading = asdict(self.report)
        checkpoint.save(position)
        logger.info(
            "read %d rows of %d files: %d events in %d sorted runs, %d bad rows",
            self.report.rows,
            self.report.files,
            sorter.count,
            len(sorter.runs),
            self.report.bad_rows,
        )

    def _read_object(
        self,
        obj: SourceObject,
        source: Source,
        selection: Selection,
        options: ReplayOptions,
        sorter: ExternalSorter,
        letters: LetterFile,
    ) -> None:
        self.report.files += 1
        try:
            with source.open(obj) as file:
                if is_parquet_key(obj.url):  # the preprocessing job's Parquet: events already (parquet_source)
                    # the seekable (ranged) file itself: pyarrow reads the footer, then one row group at a time
                    self._read_document(obj.url, None, options, sorter, letters, parquet_events(file, obj.url))
                    return
                for name, stream in documents(obj.url, file, selection.months):
                    self._read_document(name, stream, options, sorter, letters)
        except zipfile.BadZipFile as exc:
            self.reject(obj.url, f"not a readable zip archive ({exc})")
        except ParquetFormatError as exc:
            self.reject(obj.url, str(exc).removeprefix(f"{obj.url}: "))
        except NoCsvInside as exc:
            self.reject(obj.url, str(exc.args[0]).removeprefix(f"{obj.url}: "))
        except Exception as exc:
            self.reject(obj.url, f"unreadable: {type(exc).__name__}: {exc}")

    def _read_document(
        self,
        name: str,
        stream: Any,
        options: ReplayOptions,
        sorter: ExternalSorter,
        letters: LetterFile,
        items: Iterable[TripEvent | BadRow] | None = None,
    ) -> None:
        self.report.documents += 1
        plausible = Plausible(self.settings.plausible_from, self.settings.plausible_until)
        index, shards = options.shard  # events are kept for every shard: the opening stock needs them all
        start = micros(options.start) if options.start else None
        until = micros(options.until) if options.until else None
        line = "the header"
        try:
            for item in items if items is not None else read_document(name, stream, plausible):
                if isinstance(item, BadRow):
                    self.report.rows += 1
                    self.progress.row()
                    line = item.source.rsplit("#", 1)[-1]
                    if shards == 1 or zlib.crc32(item.source.encode()) % shards == index:
                        self._dead_letter(item, letters)
                    continue
                if item.kind == "start":
                    self.report.rows += 1
                    self.progress.row()
                    line = item.source.rsplit("#", 1)[-1]
                key = (item.station_id or "").encode()
                time_us = micros(item.event_time)
                if (start is not None and time_us < start) or (until is not None and time_us >= until):
                    continue
                sorter.add((time_us, item.event_id, key, encode(item)))
                self.report.events += 1
        except FormatError as exc:
            self.reject(exc.source, exc.reason)
        except (zlib.error, EOFError, zipfile.BadZipFile, SourceError, OSError, csv.Error, ValueError) as exc:
            self.reject(name, f"unreadable after line {line} (rows before it kept): {type(exc).__name__}: {exc}")

    def reject(self, where: str, reason: str) -> None:
        """A whole file or member is unusable: name it and go on with the others (the exit code says so)."""
        BAD_FILES.inc()
        self.report.rejected_files.append(where)
        logger.error("skipping %s: %s", where, reason)

    def _dead_letter(self, bad: BadRow, letters: LetterFile) -> None:
        self.report.bad_rows += 1
        BAD_ROWS.inc()
        letter = DeadLetter(
            stage="producer",
            reason=limits.clip(bad.reason, limits.DEAD_LETTER_REASON_MAX),
            source=limits.clip(bad.source, limits.SOURCE_MAX),
            payload=limits.clip(bad.payload, limits.DEAD_LETTER_PAYLOAD_MAX),
            failed_at=datetime.now(UTC),
        )
        letters.add(encode(letter))
        logger.warning("dead-lettered row: %s", bad.reason, extra={"topic": topics.DEAD_LETTER, "event_id": bad.source})

    # --- publishing (event loop) -----------------------------------------------------------------

    async def _publish(self, checkpoint: Checkpoint, position: Position, options: ReplayOptions) -> None:
        runs = [checkpoint.directory / run for run in position.runs]
        mine = _shard_filter(options.shard)
        stock = self._opening_stock(runs, mine) if self.settings.opening_stock else []
        self.report.stock_events = len(stock)
        total = position.letters + len(stock) + position.events  # an upper bound when sharded

        def acked(at: int) -> None:
            position.published = at
            checkpoint.save(position)

        publisher = Publisher(
            self.kafka,
            self.settings.window_events,
            on_acked=acked,
            on_item=self.progress.item,
            frame_topics=frozenset({topics.RAW}),
            frame_events=self.settings.frame_events,
        )
        await publisher.prepare([topics.RAW, topics.DEAD_LETTER])
        sequence = itertools.islice(self._sequence(checkpoint, runs, stock, mine), position.published, None)
        pacer = None
        if options.speed > 0:  # from --start, or from the first event (the first one still to send, on a resume)
            anchor = micros(options.start) if options.start and not position.published else None
            pacer = Pacer(options.speed, anchor, time.monotonic())
        self.progress.enter("publishing", total)
        self.progress.published = begin = position.published
        end = await publisher.publish(sequence, begin, pacer)
        self.report.published = end - begin
        EVENTS.inc(self.report.published)

    def _sequence(
        self, checkpoint: Checkpoint, runs: list[Any], stock: list[tuple[bytes, bytes]], mine: Callable[[bytes], bool]
    ) -> Iterator[Item]:
        for letter in read_letters(checkpoint.directory / "letters.bin"):
            yield topics.DEAD_LETTER, b"", letter, None
        for key, payload in stock:
            yield topics.RAW, key, payload, None
        for time_us, _, key, payload in merge(runs):
            if mine(key):
                yield topics.RAW, key, payload, time_us

    @staticmethod
    def _opening_stock(runs: list[Any], mine: Callable[[bytes], bool]) -> list[tuple[bytes, bytes]]:
        """A first merged pass feeds every event, in event-time order, to the opening-stock model;
        its STOCK events (of this shard's stations) go out before the trips, as (key, payload)."""
        stock = OpeningStock()
        for record in merge(runs):
            stock.add(decode_trip(record[3]))
        keyed = (((event.station_id or "").encode(), encode(event)) for event in stock.events())
        return [(key, payload) for key, payload in keyed if mine(key)]


def _shard_filter(shard: tuple[int, int]) -> Callable[[bytes], bool]:
    index, shards = shard
    if shards == 1:
        return lambda key: True
    return lambda key: zlib.crc32(key) % shards == index
