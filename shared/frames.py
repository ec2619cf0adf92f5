"""Event frames: many events in one Kafka record, so the frameworks' per-record costs are paid per frame.

A record on the raw or clean topic holds either one event (a JSON object, as a tester or a tool writes it
by hand) or a frame: a JSON array of events, all bound for the record's partition, in the order they were
produced. faust's consume path costs ~85 µs of CPU per record and the broker and Spark have per-record
costs of their own; a frame of a few hundred events pays them once (README, Performance).

`FrameBuilder` collects already-encoded events per partition and closes a frame at `max_events` events
or `max_bytes` bytes; `split` gives back each event's bytes (or raises `FrameError` for a record that is
neither an object nor an array of objects, so the caller can dead-letter or quarantine it whole).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec

from shared import limits

FrameError = msgspec.DecodeError

_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_WHITESPACE = b" \t\r\n"


def is_frame(payload: bytes) -> bool:
    return payload.lstrip(_WHITESPACE)[:1] == b"["


def split(payload: bytes) -> list[bytes]:
    """The events of one record: `[payload]` for a single event, each element's bytes for a frame."""
    if not is_frame(payload):
        return [payload]
    elements = _raw_list.decode(payload)
    if len(elements) > limits.FRAME_EVENTS_MAX:
        raise FrameError(f"a frame of {len(elements)} events (limit {limits.FRAME_EVENTS_MAX})")
    return [bytes(element) for element in elements]


def join(events: list[bytes]) -> bytes:
    """A frame of already-encoded events (a single event is still sent as a one-element frame)."""
    return b"[" + b",".join(events) + b"]"


@dataclass
class FrameBuilder:
    """Encoded events collected per partition; `add` returns a frame when one is full."""

    max_events: int = limits.FRAME_EVENTS_DEFAULT
    max_bytes: int = limits.FRAME_BYTES_DEFAULT
    _open: dict[int, list[bytes]] = field(default_factory=dict)
    _bytes: dict[int, int] = field(default_factory=dict)

    def add(self, partition: int, event: bytes) -> bytes | None:
        events = self._open.get(partition)
        if events is None:
            events = self._open[partition] = []
            self._bytes[partition] = 2
        if events and self._bytes[partition] + len(event) + 1 > self.max_bytes:
            frame = self._close(partition)
            self._open[partition] = [event]
            self._bytes[partition] = 2 + len(event)
            return frame
        events.append(event)
        self._bytes[partition] += len(event) + 1
        if len(events) >= self.max_events:
            return self._close(partition)
        return None

    def _close(self, partition: int) -> bytes:
        frame = join(self._open.pop(partition))
        del self._bytes[partition]
        return frame

    def drain(self) -> Iterator[tuple[int, bytes]]:
        """Every open frame, partition by partition (the builder is empty afterwards)."""
        for partition in list(self._open):
            yield partition, self._close(partition)
