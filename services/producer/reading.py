"""Reading one selected object: its documents -> checked rows -> records for a sorter, and dead letters.

A `Reader` is used by the in-process reader (one worker: a thread of the producer) and by each reading
process (`read_workers.py`); it touches nothing shared: the caller hands it a sorter (the run files of
one reader) and a dead-letter file per object, and gets back an `ObjectResult` (counts, rejections) for
the parent to add up in the selection's order, so the report and the dead letters read the same whatever
the number of workers.

One bad object never stops the run: any failure while reading a file or a zip member rejects it by name
(rows read before the failure are kept, and the line is named), and the others go on.
"""

from __future__ import annotations

import csv
import logging
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.producer.columnar import Block, read_document_columnar
from services.producer.documents import Months, NoCsvInside, documents, member_document
from services.producer.parquet_source import ParquetFormatError, is_parquet_key, parquet_events
from services.producer.row_reader import Plausible, read_document
from services.producer.settings import ProducerSettings
from services.producer.sources import Source, SourceError, SourceObject
from services.producer.spill import ExternalSorter, LetterFile
from services.producer.trip_rows import BadRow, FormatError
from shared import limits, topics
from shared.events import DeadLetter, TripEvent, encode

logger = logging.getLogger(__name__)

PROGRESS_ROWS = 0x3FFF
"""rows between two progress reports from a reader (a report is a call, or a message from a process)"""


def micros(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


@dataclass
class ObjectResult:
    """What reading one object gave: counts for the report, and the files or members rejected by name."""

    index: int
    files: int = 0
    documents: int = 0
    rows: int = 0
    events: int = 0
    bad_rows: int = 0
    rejected: list[str] = field(default_factory=list)
    letters: str | None = None
    """the object's dead-letter file (a name in the checkpoint directory), None when it had none"""


class Reader:
    """Reads objects into one sorter; `on_rows(rows, events)` reports progress every `PROGRESS_ROWS` rows."""

    def __init__(
        self,
        settings: ProducerSettings,
        start: datetime | None,
        until: datetime | None,
        shard: tuple[int, int],
        months: Months,
        sorter: ExternalSorter,
        on_rows: Callable[[int, int], None],
    ) -> None:
        self.plausible = Plausible(settings.plausible_from, settings.plausible_until)
        self.start = micros(start) if start else None
        self.until = micros(until) if until else None
        self.shard = shard
        self.months = months
        self.columnar = settings.columnar_reading
        self.sorter = sorter
        self.on_rows = on_rows
        self._rows = self._events = 0  # not yet reported

    def read_object(
        self,
        index: int,
        obj: SourceObject,
        source: Source,
        letters: LetterFile,
        member: str | None = None,
        first: bool = True,
    ) -> ObjectResult:
        """The object (or only its zip `member`; `first` counts the object as a file) into the sorter."""
        result = ObjectResult(index, files=1 if first else 0)
        try:
            with source.open(obj) as file:
                if member is not None:
                    for name, stream in member_document(obj.url, file, member):
                        self._read_document(name, stream, letters, result)
                elif is_parquet_key(obj.url):  # the preprocessing job's Parquet: events already (parquet_source)
                    # the seekable (ranged) file itself: pyarrow reads the footer, then one row group at a time
                    self._read_document(obj.url, None, letters, result, parquet_events(file, obj.url))
                else:
                    for name, stream in documents(obj.url, file, self.months):
                        self._read_document(name, stream, letters, result)
        except zipfile.BadZipFile as exc:
            self._reject(result, obj.url, f"not a readable zip archive ({exc})")
        except ParquetFormatError as exc:
            self._reject(result, obj.url, str(exc).removeprefix(f"{obj.url}: "))
        except NoCsvInside as exc:
            self._reject(result, obj.url, str(exc.args[0]).removeprefix(f"{obj.url}: "))
        except Exception as exc:
            self._reject(result, obj.url, f"unreadable: {type(exc).__name__}: {exc}")
        letters.finish()
        if letters.count:
            result.letters = letters.path.name
        self.on_rows(self._rows, self._events)
        self._rows = self._events = 0
        return result

    def _read_document(
        self,
        name: str,
        stream: Any,
        letters: LetterFile,
        result: ObjectResult,
        items: Iterable[TripEvent | BadRow | Block] | None = None,
    ) -> None:
        result.documents += 1
        index, shards = self.shard  # events are kept for every shard: the opening stock needs them all
        start, until, add = self.start, self.until, self.sorter.add
        last = ""  # the source (`name#line`) of the last row read, named if the document breaks after it
        rows = events = 0
        if items is None:
            items = (
                read_document_columnar(name, stream, self.plausible, start, until)
                if self.columnar
                else read_document(name, stream, self.plausible)
            )
        try:
            for item in items:
                if isinstance(item, Block):  # plain rows read by columns, already filtered to the window
                    self.sorter.add_columns(item.records)
                    rows += item.rows
                    events += item.records.num_rows
                    last = item.last
                    self._progress(result, rows, events)
                    rows = events = 0
                    continue
                if isinstance(item, BadRow):
                    rows += 1
                    last = item.source
                    if shards == 1 or zlib.crc32(item.source.encode()) % shards == index:
                        self._dead_letter(item, letters, result)
                    continue
                if item.kind == "start":
                    rows += 1
                    last = item.source
                    if rows & PROGRESS_ROWS == 0:
                        self._progress(result, rows, events)
                        rows = events = 0
                time_us = micros(item.event_time)
                if (start is not None and time_us < start) or (until is not None and time_us >= until):
                    continue
                add((time_us, item.event_id, (item.station_id or "").encode(), encode(item)))
                events += 1
        except FormatError as exc:
            self._reject(result, exc.source, exc.reason)
        except (zlib.error, EOFError, zipfile.BadZipFile, SourceError, OSError, csv.Error, ValueError) as exc:
            line = last.rsplit("#", 1)[-1] if last else "the header"
            reason = f"unreadable after line {line} (rows before it kept): {type(exc).__name__}: {exc}"
            self._reject(result, name, reason)
        finally:
            self._progress(result, rows, events)

    def _progress(self, result: ObjectResult, rows: int, events: int) -> None:
        result.rows += rows
        result.events += events
        self._rows += rows
        self._events += events
        if self._rows >= PROGRESS_ROWS:
            self.on_rows(self._rows, self._events)
            self._rows = self._events = 0

    @staticmethod
    def _reject(result: ObjectResult, where: str, reason: str) -> None:
        """A whole file or member is unusable: name it and go on with the others (the exit code says so)."""
        result.rejected.append(where)
        logger.error("skipping %s: %s", where, reason)

    @staticmethod
    def _dead_letter(bad: BadRow, letters: LetterFile, result: ObjectResult) -> None:
        result.bad_rows += 1
        letter = DeadLetter(
            stage="producer",
            reason=limits.clip(bad.reason, limits.DEAD_LETTER_REASON_MAX),
            source=limits.clip(bad.source, limits.SOURCE_MAX),
            payload=limits.clip(bad.payload, limits.DEAD_LETTER_PAYLOAD_MAX),
            failed_at=datetime.now(UTC),
        )
        letters.add(encode(letter))
        logger.warning("dead-lettered row: %s", bad.reason, extra={"topic": topics.DEAD_LETTER, "event_id": bad.source})
