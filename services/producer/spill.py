"""External merge sort of encoded events by (event time, event id), in bounded memory.

Why an external sort: files since 2021 are not in time order and a trip's end can come months after
other rows, so no bounded window of pending events is safe; an external sort is exact for any row
order. The reader appends records; every `run_events` records are sorted in memory and written to a
run file; publishing merges the runs. Memory is one run in RAM (about 450 bytes an event as Arrow
columns) plus a batch per run while merging; disk is about 420 bytes an event. The limit: the first
event is published only after the whole selection is read, and the spill directory needs the disk space.

A record is (time µs, event id, Kafka key, encoded event). A run is an Arrow IPC file of those four
columns, sorted by all four, in batches of `BATCH_EVENTS`: `merge_blocks` merges the runs a block at a
time with Arrow (no Python object per event), `merge` one record at a time (`heapq.merge`, for the
opening-stock model and tests). Dead letters are spilled in the order they were found, to be published
first. The files are durable so a killed run resumes from them.
"""

from __future__ import annotations

import heapq
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.producer.arrays import arrow, binaries, strings
from services.producer.in_order import InOrder

Record = tuple[int, str, bytes, bytes]
"""(event time in µs since the epoch, event id, Kafka key, encoded event)"""

COLUMNS = ("time_us", "event_id", "key", "payload")
SCHEMA = pa.schema([("time_us", pa.int64()), ("event_id", pa.string()), ("key", pa.binary()), ("payload", pa.binary())])
SORT_KEYS = [(name, "ascending") for name in COLUMNS]
BATCH_EVENTS = 4096
"""records per batch of a run file: the merge holds about one batch per run"""
FORMAT = 2
"""run files' format (1: packed records; 2: Arrow IPC), part of the resume fingerprint"""
_LETTER = struct.Struct("<I")
BUFFER = 1024 * 1024


class ExternalSorter:
    """Records in, sorted runs of `run_events` out. Records come one by one (`add`, Python tuples) or as
    Arrow columns (`add_columns`, from the columnar reader); a run is sorted and written by Arrow."""

    def __init__(self, directory: Path, run_events: int, name: str = "run") -> None:
        self.directory = directory
        self.name = name
        """run files are `{name}-00000.arrow`, ...: one name per sorter sharing the directory"""
        self.run_events = run_events
        self.buffer: list[Record] = []
        self.tables: list[pa.Table] = []
        self.buffered = 0
        """records held: `buffer` plus the rows of `tables`"""
        self.runs: list[Path] = []
        self.count = 0
        self._syncs = InOrder("run-sync")
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, record: Record) -> None:
        self.buffer.append(record)
        self.buffered += 1
        if self.buffered >= self.run_events:
            self._spill()

    def add_columns(self, table: pa.Table) -> None:
        """Records as a table of `SCHEMA` (their order does not matter: a run is sorted whole)."""
        while table.num_rows:
            room = self.run_events - self.buffered
            self.tables.append(table.slice(0, room))
            self.buffered += min(room, table.num_rows)
            table = table.slice(room)
            if self.buffered >= self.run_events:
                self._spill()

    def finish(self) -> list[Path]:
        """The runs, every one of them on disk (fsync'd) by the time it returns."""
        if self.buffered:
            self._spill()
        self._syncs.wait()
        return self.runs

    def _spill(self) -> None:
        tables = self.tables
        if self.buffer:
            tables.append(records_table(self.buffer))
        self.buffer, self.tables, self.buffered = [], [], 0
        run = pa.concat_tables(tables).combine_chunks()  # one copy: `take` of a chunked table concatenates per call
        del tables
        order = pc.sort_indices(run, sort_keys=SORT_KEYS)
        path = self.directory / f"{self.name}-{len(self.runs):05d}.arrow"
        out = open(path, "wb")  # noqa: SIM115 - closed by _sync_and_close, or here on a failure
        try:
            with pa.ipc.new_file(out, SCHEMA) as writer:
                for at in range(0, len(order), BATCH_EVENTS):  # sorted a batch at a time: no second copy of the run
                    writer.write_table(run.take(order.slice(at, BATCH_EVENTS)), max_chunksize=BATCH_EVENTS)
            out.flush()
        except BaseException:
            out.close()
            raise
        # the disk write (about 40 ms a run here) in a thread while this one reads on; `finish` waits for it
        self._syncs.submit(_sync_and_close, out)
        self.count += run.num_rows
        self.runs.append(path)


def _sync_and_close(out: IO[bytes]) -> None:
    try:
        os.fsync(out.fileno())
    finally:
        out.close()


def records_table(records: list[Record]) -> pa.Table:
    times, ids, keys, payloads = zip(*records, strict=True)
    columns = [arrow(np.array(times, np.int64)), strings(list(ids)), binaries(list(keys)), binaries(list(payloads))]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def run_batches(path: Path) -> Iterator[pa.RecordBatch]:
    with pa.OSFile(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index)


def read_run(path: Path) -> Iterator[Record]:
    for batch in run_batches(path):
        yield from zip(*(batch.column(name).to_pylist() for name in COLUMNS), strict=True)


def merge(runs: list[Path]) -> Iterator[Record]:
    """Every record of every run, in (time, id, key, payload) order, one at a time."""
    return heapq.merge(*(read_run(p) for p in runs))


class _Cursor:
    """The records of one run not yet merged: a loaded part (`table`, sorted) and the batches after it."""

    def __init__(self, path: Path) -> None:
        self.batches = run_batches(path)
        self.more = True
        self.table = SCHEMA.empty_table()
        self.times: Any = np.zeros(0, np.int64)

    def load(self) -> None:
        batch = next(self.batches, None)
        if batch is None:
            self.more = False
            return
        self.table = pa.concat_tables([self.table, pa.Table.from_batches([batch])]).combine_chunks()
        self.times = self.table.column("time_us").to_numpy()

    def take(self, count: int) -> pa.Table:
        taken, self.table = self.table.slice(0, count), self.table.slice(count)
        self.times = self.times[count:]
        return taken


def merge_blocks(runs: list[Path]) -> Iterator[pa.Table]:
    """Every record of every run in `merge`'s order, as tables of consecutive records.

    Each round takes, from every run, the loaded records whose time is below `bound`: the smallest last
    loaded time among the runs with batches still unread (a record not loaded yet is at or after its
    run's last loaded time, so nothing unread can come before the bound). The records taken are sorted
    together by all four columns and come out as one block; a round that takes nothing loads the next
    batch of the runs that set the bound."""
    cursors = [_Cursor(path) for path in runs]
    while True:
        for cursor in cursors:
            if not len(cursor.times) and cursor.more:
                cursor.load()
        cursors = [cursor for cursor in cursors if len(cursor.times) or cursor.more]
        if not cursors:
            return
        bounding = [cursor for cursor in cursors if cursor.more]
        bound = min(int(cursor.times[-1]) for cursor in bounding) if bounding else None
        parts = []
        for cursor in cursors:
            count = len(cursor.times) if bound is None else int(np.searchsorted(cursor.times, bound, "left"))
            if count:
                parts.append(cursor.take(count))
        if not parts:
            for cursor in bounding:
                if int(cursor.times[-1]) == bound:
                    cursor.load()
            continue
        block = pa.concat_tables(parts)
        yield block.take(pc.sort_indices(block, sort_keys=SORT_KEYS)) if len(parts) > 1 else block


class LetterFile:
    """Encoded dead letters, appended in the order found and read back in that order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._out: IO[bytes] | None = None

    def add(self, payload: bytes) -> None:
        if self._out is None:
            self._out = open(self.path, "wb", buffering=BUFFER)  # noqa: SIM115 - closed in finish()
        self._out.write(_LETTER.pack(len(payload)))
        self._out.write(payload)
        self.count += 1

    def finish(self) -> None:
        if self._out is not None:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            self._out = None


def read_letters(path: Path) -> Iterator[bytes]:
    if not path.exists():
        return
    with open(path, "rb", buffering=BUFFER) as f:
        while head := f.read(_LETTER.size):
            (length,) = _LETTER.unpack(head)
            yield f.read(length)
