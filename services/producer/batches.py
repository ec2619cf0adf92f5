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

The record batch header (Kafka's `RecordBatch`, magic 2), big-endian: base offset (8 bytes), batch
length (4), partition leader epoch (4), magic (1), CRC (4, offset 17), attributes (2, offset 21, where the
CRC's range starts), last offset delta (4), first and max timestamps (8 + 8), producer id (8, offset
43), producer epoch (2, offset 51), base sequence (4, offset 53), record count (4), then the records.
"""

from __future__ import annotations

import struct
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.util import calc_crc32c

_CRC = struct.Struct(">I")
_CRC_AT = 17
_CRC_FROM = 21
_STATE = struct.Struct(">qhi")
_STATE_AT = 43
_MAGIC_AT = 16


class BuiltBatch:
    """A `BatchBuilder`'s batch, built at once (call `BuiltBatch(builder)` in a worker thread); it offers
    aiokafka's sender what it asks of a `BatchBuilder` handed to `send_batch`."""

    def __init__(self, builder: BatchBuilder) -> None:
        self._count: int = builder.record_count()
        self._buffer: bytearray = builder._build()  # aiokafka's own call (MessageBatch.get_data_buffer)
        if self._buffer[_MAGIC_AT] != 2:
            raise ValueError(f"record batch of magic {self._buffer[_MAGIC_AT]}: only magic 2 carries a producer state")

    def _set_producer_state(self, producer_id: int, producer_epoch: int, base_sequence: int) -> None:
        """Called by the sender (idempotence) before it asks for the bytes, once per batch (not on retries)."""
        _STATE.pack_into(self._buffer, _STATE_AT, producer_id, producer_epoch, base_sequence)
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
