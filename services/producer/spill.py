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
from typing import IO

Record = tuple[int, str, bytes, bytes]
"""(event time in µs since the epoch, event id, Kafka key, encoded event)"""

_HEAD = struct.Struct("<q36sHI")
_LETTER = struct.Struct("<I")
BUFFER = 1024 * 1024


class ExternalSorter:
    def __init__(self, directory: Path, run_events: int, name: str = "run") -> None:
        self.directory = directory
        self.name = name
        """run files are `{name}-00000.bin`, ...: one name per sorter sharing the directory"""
        self.run_events = run_events
        self.buffer: list[Record] = []
        self.runs: list[Path] = []
        self.count = 0
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, record: Record) -> None:
        self.buffer.append(record)
        if len(self.buffer) >= self.run_events:
            self._spill()

    def finish(self) -> list[Path]:
        if self.buffer:
            self._spill()
        return self.runs

    def _spill(self) -> None:
        self.buffer.sort()
        path = self.directory / f"{self.name}-{len(self.runs):05d}.bin"
        with open(path, "wb", buffering=BUFFER) as out:
            write, pack = out.write, _HEAD.pack
            for time_us, event_id, key, payload in self.buffer:
                write(pack(time_us, event_id.encode(), len(key), len(payload)))
                write(key)
                write(payload)
            out.flush()
            os.fsync(out.fileno())
        self.count += len(self.buffer)
        self.runs.append(path)
        self.buffer = []


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
