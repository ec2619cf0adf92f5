"""External merge sort of encoded events by (event time, event id), in bounded memory.

Why an external sort: files since 2021 are not in time order and a trip's end can come months after
other rows, so no bounded window of pending events is safe; an external sort is exact for any row
order. The reader appends records; every `run_events` records are sorted in memory and written to a
run file; publishing k-way merges the runs (`heapq.merge`). Memory is one run in RAM (about 600 bytes
an event as Python objects) plus one read buffer per run while merging; disk is about 420 bytes an
event. The limit: the first event is published only after the whole selection is read (a month of
about 10 million events takes minutes on one core), and the spill directory needs the disk space.

A record is (time µs, event id, Kafka key, encoded event). Dead letters are spilled in the order
they were found, to be published first. The files are durable so a killed run resumes from them.
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

Record = tuple[int, str, bytes, bytes]
"""(event time in µs since the epoch, event id, Kafka key, encoded event)"""

_HEAD = struct.Struct("<q36sHI")
_LETTER = struct.Struct("<I")
BUFFER = 1024 * 1024


class ExternalSorter:
    """Records in, sorted runs of `run_events` out. Records come one by one (`add`, Python tuples) or as
    Arrow columns (`add_columns`, from the columnar reader); a run is sorted and written by Arrow, in
    slices, so no Python object per event is made here."""

    def __init__(self, directory: Path, run_events: int, name: str = "run") -> None:
        self.directory = directory
        self.name = name
        """run files are `{name}-00000.bin`, ...: one name per sorter sharing the directory"""
        self.run_events = run_events
        self.buffer: list[Record] = []
        self.tables: list[pa.Table] = []
        self.buffered = 0
        """records held: `buffer` plus the rows of `tables`"""
        self.runs: list[Path] = []
        self.count = 0
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, record: Record) -> None:
        self.buffer.append(record)
        self.buffered += 1
        if self.buffered >= self.run_events:
            self._spill()

    def add_columns(self, table: pa.Table) -> None:
        """Records as a table of `COLUMNS` (their order does not matter: a run is sorted whole)."""
        while table.num_rows:
            room = self.run_events - self.buffered
            self.tables.append(table.slice(0, room))
            self.buffered += min(room, table.num_rows)
            table = table.slice(room)
            if self.buffered >= self.run_events:
                self._spill()

    def finish(self) -> list[Path]:
        if self.buffered:
            self._spill()
        return self.runs

    def _spill(self) -> None:
        tables = self.tables
        if self.buffer:
            tables.append(records_table(self.buffer))
        run = pa.concat_tables(tables).combine_chunks()
        self.buffer, self.tables, self.buffered = [], [], 0
        order = pc.sort_indices(run, sort_keys=[(name, "ascending") for name in COLUMNS])
        path = self.directory / f"{self.name}-{len(self.runs):05d}.bin"
        with open(path, "wb", buffering=BUFFER) as out:
            for at in range(0, len(order), SPILL_SLICE):
                out.write(_encoded(run.take(order.slice(at, SPILL_SLICE))))
            out.flush()
            os.fsync(out.fileno())
        self.count += run.num_rows
        self.runs.append(path)


COLUMNS = ("time_us", "event_id", "key", "payload")
SCHEMA = pa.schema([("time_us", pa.int64()), ("event_id", pa.string()), ("key", pa.binary()), ("payload", pa.binary())])
SPILL_SLICE = 50_000
_HEAD_DTYPE = np.dtype([("time_us", "<i8"), ("event_id", "S36"), ("key", "<u2"), ("payload", "<u4")])


def records_table(records: list[Record]) -> pa.Table:
    times, ids, keys, payloads = zip(*records, strict=True)
    return pa.Table.from_arrays(
        [
            pa.array(times, pa.int64()),
            pa.array(ids, pa.string()),
            pa.array(keys, pa.binary()),
            pa.array(payloads, pa.binary()),
        ],
        schema=SCHEMA,
    )


def _offsets(column: pa.Array) -> Any:
    return np.frombuffer(column.buffers()[1], np.int32)[column.offset : column.offset + len(column) + 1]


def _lengths(column: pa.Array) -> Any:
    return np.diff(_offsets(column))


def _values(column: pa.Array) -> bytes:
    """The concatenated values of a binary array (no copy of what Arrow holds beyond this one)."""
    offsets = _offsets(column)
    data = column.buffers()[2]
    if data is None or not len(column):
        return b""
    return data.slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()  # type: ignore[no-any-return]


def _encoded(table: pa.Table) -> bytes:
    """The run-file bytes of `table`'s records, in its order: `_HEAD` (time, id, key and payload lengths),
    key, payload - what `read_run` reads, written by columns."""
    table = table.combine_chunks()
    n = table.num_rows
    ids = pc.cast(table.column("event_id").chunk(0), pa.binary())
    if n and not np.all(_lengths(ids) == 36):
        raise ValueError("an event id is not 36 characters long")
    heads = np.zeros(n, _HEAD_DTYPE)
    heads["time_us"] = table.column("time_us").to_numpy()
    heads["event_id"] = np.frombuffer(_values(ids), "S36")
    key, payload = table.column("key").chunk(0), table.column("payload").chunk(0)
    heads["key"] = _lengths(key)
    heads["payload"] = _lengths(payload)
    head = pa.FixedSizeBinaryArray.from_buffers(pa.binary(_HEAD.size), n, [None, pa.py_buffer(heads.tobytes())])
    joined = pc.binary_join_element_wise(pc.cast(head, pa.binary()), key, payload, b"")
    return _values(joined)


def read_run(path: Path) -> Iterator[Record]:
    with open(path, "rb", buffering=BUFFER) as f:
        read, unpack, size = f.read, _HEAD.unpack, _HEAD.size
        while head := read(size):
            time_us, raw_id, key_len, payload_len = unpack(head)
            body = read(key_len + payload_len)
            yield time_us, raw_id.decode(), body[:key_len], body[key_len:]


def merge(runs: list[Path]) -> Iterator[Record]:
    """Every record of every run, in (time, id) order (ties keep a deterministic order)."""
    return heapq.merge(*(read_run(p) for p in runs))


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
