"""Kafka record batches built and compressed in a worker thread, off the event loop.

aiokafka builds (and zstd-compresses) a batch handed to `send_batch` in its sender, on the event loop:
with frames of JSON that is about 0.8 µs an event of the one core the publishing loop runs on, while
the other core waits (the reading processes are done by then). cramjam's zstd releases the GIL, so a
full batch is built in a thread instead, while the loop frames the next events.

What stops a batch from being built before aiokafka takes it is the producer state of an idempotent
producer (producer id, epoch, the partition's base sequence): the sender assigns it when it drains the
batch, and it lies in the batch header, inside the CRC. So the batch is built with aiokafka's own
builder (the same record bytes and the same compression as aiokafka would produce), and when the sender
sets the state, those three header fields are written in place and the header's CRC-32C recomputed
(it covers the bytes after it; the compressed records are not touched). The result is byte for byte
the batch aiokafka builds itself (`tests/unit/test_producer_batches.py`).

zstd at a chosen level: aiokafka compresses at level 3 whatever it is given, so for zstd the publisher
fills uncompressed batches and the records are compressed here at `ZSTD_LEVEL`, the header set as
aiokafka sets it (codec bits, batch length). At level 3 that gives aiokafka's own bytes (tested); at
level 1 the same records, which every consumer reads alike.

The record batch header (Kafka's `RecordBatch`, magic 2), big-endian: base offset (8 bytes), batch
length (4), partition leader epoch (4), magic (1), CRC (4, offset 17), attributes (2, offset 21, where the
CRC's range starts), last offset delta (4), first and max timestamps (8 + 8), producer id (8, offset
43), producer epoch (2, offset 51), base sequence (4, offset 53), record count (4), then the records.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import cramjam
import google_crc32c
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBase
from aiokafka.record.util import encode_varint, size_of_varint

_CRC = struct.Struct(">I")
_CRC_AT = 17
_CRC_FROM = 21
_STATE = struct.Struct(">qhi")
_STATE_AT = 43
_MAGIC_AT = 16
_LENGTH = struct.Struct(">i")
_LENGTH_AT = 8
_ATTRIBUTES = struct.Struct(">h")
_ATTRIBUTES_AT = 21
_HEADER = 61
_BATCH_HEADER = DefaultRecordBase.HEADER_STRUCT
ZSTD = 4
"""the attributes' codec bits of a zstd batch"""
ZSTD_LEVEL = 1
"""of batches compressed here: on frames of these JSON events level 1 runs about 1.4x as fast as
aiokafka's fixed level 3 (0.5 against 0.7 µs an event) and compresses them as well (8.2x against 7.9x)"""


def plain_batch(max_bytes: int) -> BatchBuilder:
    """An uncompressed aiokafka batch, to be compressed here (`BuiltBatch(..., zstd_level)`)."""
    return BatchBuilder(max_bytes, 0)


class Records:
    """The records of one batch to be compressed here, kept as given: `BatchBuilder.append`'s rule (the same
    record sizes, the same "full" answer) without its buffer. aiokafka copies each value into its batch
    buffer on the event loop, and its build of an uncompressed batch computes a CRC-32C of all of it (in
    software, about 3 % of a run's CPU) that the compression here then throws away; these records are
    encoded, once, by `BuiltBatch` in the build thread, with aiokafka's record bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.records: list[tuple[bytes | None, Any, int]] = []
        """(key, value, timestamp delta in ms)"""
        self.first_ms: int | None = None
        self.max_ms = 0
        self.size = _HEADER

    def append(self, *, key: bytes | None, value: Any, timestamp: int | None) -> bool | None:
        """Add a record (`timestamp` in ms, None: now); None when the batch is full, as aiokafka answers."""
        ms = int(time.time() * 1000) if timestamp is None else timestamp
        delta = 0 if self.first_ms is None else ms - self.first_ms
        body = 1 + size_of_varint(delta) + size_of_varint(len(self.records)) + 1  # attributes ... headers
        body += 1 if key is None else size_of_varint(len(key)) + len(key)
        body += size_of_varint(len(value)) + len(value)
        needed = body + size_of_varint(body)
        if self.records and self.size + needed > self.max_bytes:
            return None
        if self.first_ms is None:
            self.first_ms = ms
        self.max_ms = max(self.max_ms, ms)
        self.records.append((key, value, delta))
        self.size += needed
        return True

    def record_count(self) -> int:
        return len(self.records)

    def encoded(self) -> bytearray:
        """The records section, as aiokafka's builder writes it."""
        out = bytearray()
        for offset, (key, value, delta) in enumerate(self.records):
            head = bytearray(b"\x00")  # attributes
            encode_varint(delta, head.append)
            encode_varint(offset, head.append)
            if key is None:
                head.append(1)  # length -1
            else:
                encode_varint(len(key), head.append)
                head += key
            encode_varint(len(value), head.append)
            encode_varint(len(head) + len(value) + 1, out.append)
            out += head
            out += value
            out.append(0)  # no headers
        return out


class BuiltBatch:
    """A `BatchBuilder`'s batch, built at once (call `BuiltBatch(builder)` in a worker thread); it offers
    aiokafka's sender what it asks of a `BatchBuilder` handed to `send_batch`."""

    def __init__(self, builder: BatchBuilder | Records, zstd_level: int | None = None) -> None:
        """`zstd_level`: `builder` is uncompressed (`plain_batch`, or `Records`) and its records are compressed
        here, at that level, as aiokafka's builder does it at its own (the records after the header, whatever
        the result's size; the codec in the attributes, the batch length)."""
        self._count: int = builder.record_count()
        self._buffer: bytearray
        if isinstance(builder, Records):
            if zstd_level is None:
                raise ValueError("Records are compressed here: give a zstd_level")
            self._buffer = _encoded(builder, zstd_level)
            self._write_crc()
            return
        self._buffer = builder._build()  # aiokafka's own call (MessageBatch.get_data_buffer)
        if self._buffer[_MAGIC_AT] != 2:
            raise ValueError(f"record batch of magic {self._buffer[_MAGIC_AT]}: only magic 2 carries a producer state")
        if zstd_level is not None:
            (attributes,) = _ATTRIBUTES.unpack_from(self._buffer, _ATTRIBUTES_AT)
            if attributes & 0x07:
                raise ValueError("zstd_level needs an uncompressed batch (plain_batch)")
            compressed = cramjam.zstd.compress(memoryview(self._buffer)[_HEADER:], level=zstd_level)
            self._buffer = self._buffer[:_HEADER] + bytes(compressed)
            _ATTRIBUTES.pack_into(self._buffer, _ATTRIBUTES_AT, attributes | ZSTD)
            _LENGTH.pack_into(self._buffer, _LENGTH_AT, len(self._buffer) - 12)
            self._write_crc()

    def _set_producer_state(self, producer_id: int, producer_epoch: int, base_sequence: int) -> None:
        """Called by the sender (idempotence) before it asks for the bytes, once per batch (not on retries)."""
        _STATE.pack_into(self._buffer, _STATE_AT, producer_id, producer_epoch, base_sequence)
        self._write_crc()

    def _write_crc(self) -> None:
        # the CRC-32C aiokafka's `calc_crc32c` gives, from google-crc32c's hardware one: 25 GB/s instead of 1.3
        # (twice a batch: here, then on the loop once the sender has set the producer state). It takes only
        # immutable bytes: the copy of a compressed batch (about 110 KB) costs less than the CRC it replaces.
        _CRC.pack_into(self._buffer, _CRC_AT, google_crc32c.value(bytes(memoryview(self._buffer)[_CRC_FROM:])))

    def _build(self) -> bytearray:
        return self._buffer

    def record_count(self) -> int:
        return self._count

    def size(self) -> int:
        return len(self._buffer)

    def closed(self) -> bool:
        return True

    def close(self) -> None:
        """Built batches take no more records."""

    def append(self, **_: Any) -> None:
        """Full: aiokafka's `send()` never adds to a batch handed to `send_batch`, but it would get None."""
        return None


def _encoded(records: Records, zstd_level: int) -> bytearray:
    """A batch of `records`, compressed, its CRC still to be written (`BuiltBatch._write_crc`)."""
    if not records.records:
        raise ValueError("an empty batch")
    compressed = cramjam.zstd.compress(records.encoded(), level=zstd_level)
    buffer = bytearray(_HEADER)
    buffer += compressed  # the header written below
    _BATCH_HEADER.pack_into(
        buffer,
        0,
        0,  # base offset: the broker's
        len(buffer) - 12,
        -1,  # partition leader epoch
        2,  # magic
        0,  # CRC: written by the caller
        ZSTD,
        len(records.records) - 1,
        records.first_ms or 0,
        records.max_ms,
        -1,  # producer id, epoch and base sequence: the sender's (_set_producer_state)
        -1,
        0,
        len(records.records),
    )
    return buffer
