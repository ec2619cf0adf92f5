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
from typing import Any

import cramjam
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.util import calc_crc32c

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
ZSTD = 4
"""the attributes' codec bits of a zstd batch"""
ZSTD_LEVEL = 1
"""of batches compressed here: on frames of these JSON events level 1 runs about 1.4x as fast as
aiokafka's fixed level 3 (0.5 against 0.7 µs an event) and compresses them as well (8.2x against 7.9x)"""


def plain_batch(max_bytes: int) -> BatchBuilder:
    """An uncompressed aiokafka batch, to be compressed here (`BuiltBatch(..., zstd_level)`)."""
    return BatchBuilder(max_bytes, 0)


class BuiltBatch:
    """A `BatchBuilder`'s batch, built at once (call `BuiltBatch(builder)` in a worker thread); it offers
    aiokafka's sender what it asks of a `BatchBuilder` handed to `send_batch`."""

    def __init__(self, builder: BatchBuilder, zstd_level: int | None = None) -> None:
        """`zstd_level`: `builder` is uncompressed (`plain_batch`) and its records are compressed here, at
        that level, as aiokafka's builder does it at its own (the records after the header, whatever the
        result's size; the codec in the attributes, the batch length)."""
        self._count: int = builder.record_count()
        self._buffer: bytearray = builder._build()  # aiokafka's own call (MessageBatch.get_data_buffer)
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
        _CRC.pack_into(self._buffer, _CRC_AT, calc_crc32c(memoryview(self._buffer)[_CRC_FROM:]))

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
