"""A replay: select the files, read and sort their events (external sort), publish in event-time order.

Phases: *reading* (`reading.py`: sources -> documents -> checked rows -> sorted spill runs and
dead-letter files; in a thread, or in `BIKESHARE_READ_WORKERS` processes: `read_workers.py`), then
*publishing* (the event loop: dead letters, opening stock, events merged in (event time, event id)
order, paced or not), resumable from `checkpoint.py`'s position.

Shards (`--shard i/N`) split by station: every shard reads and sorts every file, and publishes the
events whose Kafka key (station id) hashes to it (crc32 mod N), the opening stock of those stations,
and the bad rows whose source hashes to it. Why station and not file: all of a station's events then
come from one producer, in event-time order, so per-station order holds across the whole run (a split
by file would interleave two producers' events of the same station); each event lands in exactly one
shard; and the opening stock, which needs every event (a bike's first move may be at another shard's
station), is computed from all of them. The cost: each shard parses every file.

One bad object never stops the run (`reading.py`): it is rejected by name and the others go on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from services.producer.batches import ZSTD_LEVEL, Records
from services.producer.checkpoint import BackgroundSaves, Checkpoint, Position, fingerprint
from services.producer.documents import Months, csv_members, skipped_member
from services.producer.opening_stock import OpeningStock
from services.producer.progress import Progress, peak_rss_mb
from services.producer.publisher import Item, Pacer, Publisher
from services.producer.read_workers import Job, Readers, ReadOutcome, letters_name, read_in_processes, wanted
from services.producer.reading import ObjectResult, Reader, micros
from services.producer.selection import Month, Selection, select
from services.producer.settings import ProducerSettings
from services.producer.sources import Source, SourceObject
from services.producer.sources.local import LocalSource
from services.producer.spill import FORMAT, ExternalSorter, LetterFile, merge, merge_blocks, read_letters
from shared import topics
from shared.events import TripEvent, decode_trip, encode

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
    """this process's own peak; the reading processes' sum is `readers_peak_rss_mb`"""
    read_workers: int = 1
    readers_peak_rss_mb: float = 0.0


def order_events(events: list[TripEvent]) -> list[TripEvent]:
    """The publishing order, in memory (for small inputs, tests and benchmarks): event time, then event id."""
    return sorted(events, key=lambda e: (e.event_time, e.event_id))


class Replayer:
    def __init__(self, settings: ProducerSettings, kafka: Any, s3: Any, readers: Readers | None = None) -> None:
        self.settings = settings
        self.kafka = kafka
        self.s3 = s3
        self.readers = readers
        """reading processes started beforehand (`python -m services.producer` forks them first thing), or
        None: spawned when needed; whatever this run does not use of them is closed when reading starts"""
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
            if self.readers is not None:
                self.readers.close()
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
                "spill_format": FORMAT,
            }
        )

    # --- reading (a thread, or worker processes) --------------------------------------------------

    def workers(self, selection: Selection) -> int:
        """Reading processes wanted: the setting (default: the CPUs, at most 4); 1 reads in a thread."""
        return wanted(self.settings)

    def _tasks(self, selection: Selection, loop: asyncio.AbstractEventLoop) -> list[tuple[int, str | None]]:
        """What readers share out: each object whole, or each CSV member of a zip holding several."""
        local = LocalSource()
        remote = _s3_source(self.s3, loop) if selection.has_s3 else local
        tasks: list[tuple[int, str | None]] = []
        for index, obj in enumerate(selection.objects):
            members: list[str] = []
            skipped: list[str] = []
            if obj.url.endswith(".zip"):
                try:
                    with (remote if obj.url.startswith("s3://") else local).open(obj) as file:
                        members, skipped = csv_members(obj.url, file, selection.months)
                except Exception:  # the reader that takes the object whole names the problem
                    members = []
            if len(members) > 1:
                for name in skipped:  # said here, as a reader of the whole zip would have said it
                    skipped_member(obj.url, name)
                tasks += [(index, member) for member in members]
            else:
                tasks.append((index, None))
        return tasks

    def _read_all(
        self,
        selection: Selection,
        options: ReplayOptions,
        checkpoint: Checkpoint,
        position: Position,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        workers = self.workers(selection)
        tasks = self._tasks(selection, loop) if workers > 1 else []
        workers = min(workers, len(tasks))
        if workers <= 1:
            workers = 1
            if self.readers is not None:
                self.readers.close()
            outcome = self._read_in_thread(selection, options, checkpoint.directory, loop)
        else:
            job = Job(
                self.settings,
                options.start,
                options.until,
                options.shard,
                selection.months,
                checkpoint.directory,
                selection.objects,
                tasks,
            )
            outcome = read_in_processes(job, workers, self.progress, self.readers)
        self.report.read_workers, self.report.readers_peak_rss_mb = workers, round(outcome.peak_rss_mb, 1)
        for result in outcome.results:  # in the selection's order, whoever read them
            self._add(result)
        position.runs = outcome.runs
        position.letter_files = [result.letters for result in outcome.results if result.letters]
        position.letters, position.events, position.sorted = self.report.bad_rows, outcome.events, True
        position.reading = asdict(self.report)
        checkpoint.save(position)
        logger.info(
            "read %d rows of %d files with %d workers: %d events in %d sorted runs, %d bad rows",
            self.report.rows,
            self.report.files,
            workers,
            outcome.events,
            len(outcome.runs),
            self.report.bad_rows,
        )

    def _read_in_thread(
        self, selection: Selection, options: ReplayOptions, directory: Path, loop: asyncio.AbstractEventLoop
    ) -> ReadOutcome:
        sorter = ExternalSorter(directory, self.settings.run_events)
        reader = self._reader(options, selection.months, sorter)
        local = LocalSource()
        remote = _s3_source(self.s3, loop) if selection.has_s3 else local
        results = []
        for index, obj in enumerate(selection.objects):
            source: Source = remote if obj.url.startswith("s3://") else local
            results.append(reader.read_object(index, obj, source, LetterFile(directory / letters_name(index))))
            self.progress.files_done += 1
        runs = sorter.finish()
        return ReadOutcome(results, [run.name for run in runs], sorter.count)

    def _reader(self, options: ReplayOptions, months: Months, sorter: ExternalSorter) -> Reader:
        return Reader(self.settings, options.start, options.until, options.shard, months, sorter, self.progress.add)

    def _read_object(
        self,
        obj: SourceObject,
        source: Source,
        selection: Selection,
        options: ReplayOptions,
        sorter: ExternalSorter,
        letters: LetterFile,
    ) -> None:
        """One object into `sorter` and `letters`, counted in the report (for tests of one source kind)."""
        self._add(self._reader(options, selection.months, sorter).read_object(0, obj, source, letters))

    def _add(self, result: ObjectResult) -> None:
        report = self.report
        report.files += result.files
        report.documents += result.documents
        report.rows += result.rows
        report.events += result.events
        report.bad_rows += result.bad_rows
        BAD_ROWS.inc(result.bad_rows)
        for where in result.rejected:
            if where not in report.rejected_files:  # an archive that breaks under two member readers: once
                BAD_FILES.inc()
                report.rejected_files.append(where)

    def reject(self, where: str, reason: str) -> None:
        """A named target is unusable: name it and go on with the others (the exit code says so)."""
        BAD_FILES.inc()
        self.report.rejected_files.append(where)
        logger.error("skipping %s: %s", where, reason)

    # --- publishing (event loop) -----------------------------------------------------------------

    async def _publish(self, checkpoint: Checkpoint, position: Position, options: ReplayOptions) -> None:
        runs = [checkpoint.directory / run for run in position.runs]
        mine = _shard_filter(options.shard)
        stock = self._opening_stock(runs, mine) if self.settings.opening_stock else []
        self.report.stock_events = len(stock)
        total = position.letters + len(stock) + position.events  # an upper bound when sharded

        with BackgroundSaves(checkpoint) as saves:

            def acked(at: int) -> None:
                position.published = at
                saves.save(position)

            publisher = Publisher(
                self.kafka,
                self.settings.window_events,
                on_acked=acked,
                on_item=self.progress.item,
                on_block=self.progress.tick,
                frame_topics=frozenset({topics.RAW}),
                frame_events=self.settings.frame_events,
                **self._compression(),
            )
            await publisher.prepare([topics.RAW, topics.DEAD_LETTER])
            pacer = None
            if options.speed > 0:  # from --start, or from the first event (the first one still to send, on a resume)
                anchor = micros(options.start) if options.start and not position.published else None
                pacer = Pacer(options.speed, anchor, time.monotonic())
            self.progress.enter("publishing", total)
            self.progress.published = begin = position.published
            if pacer is None and self.settings.frame_events > 1:
                # dead letters and opening stock one by one, then the events a merged block at a time
                head = itertools.islice(self._head(checkpoint, position, stock), begin, None)
                end = await publisher.publish(head, begin)
                skip = max(0, begin - position.letters - len(stock))
                end = await publisher.publish_blocks(topics.RAW, merge_blocks(runs), end, skip, options.shard)
            else:
                sequence = itertools.islice(self._sequence(checkpoint, position, runs, stock, mine), begin, None)
                end = await publisher.publish(sequence, begin, pacer)
        self.report.published = end - begin
        EVENTS.inc(self.report.published)

    def _compression(self) -> dict[str, Any]:
        """zstd at `batches.ZSTD_LEVEL` (aiokafka's own is fixed at 3); other codecs as aiokafka builds them."""
        if self.settings.producer_compression != "zstd":
            return {}
        max_bytes = self.settings.max_batch_bytes
        return {"new_batch": lambda: Records(max_bytes), "zstd_level": ZSTD_LEVEL}

    @staticmethod
    def _head(checkpoint: Checkpoint, position: Position, stock: list[tuple[bytes, bytes]]) -> Iterator[Item]:
        """What goes out before the events: the dead letters (in the selection's order), the opening stock."""
        for name in position.letter_files:
            for letter in read_letters(checkpoint.directory / name):
                yield topics.DEAD_LETTER, b"", letter, None
        for key, payload in stock:
            yield topics.RAW, key, payload, None

    def _sequence(
        self,
        checkpoint: Checkpoint,
        position: Position,
        runs: list[Any],
        stock: list[tuple[bytes, bytes]],
        mine: Callable[[bytes], bool],
    ) -> Iterator[Item]:
        yield from self._head(checkpoint, position, stock)
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


def _s3_source(s3: Any, loop: asyncio.AbstractEventLoop) -> Source:
    from services.producer.sources.s3 import S3Source  # aiobotocore: imported only when an object is on S3

    return S3Source(s3, loop)


def _shard_filter(shard: tuple[int, int]) -> Callable[[bytes], bool]:
    index, shards = shard
    if shards == 1:
        return lambda key: True
    return lambda key: zlib.crc32(key) % shards == index
