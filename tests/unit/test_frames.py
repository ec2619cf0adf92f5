"""Frames (`shared.frames`): many events in one record, split back exactly; expected values built with `json`."""

from __future__ import annotations

import json

import pytest

from shared import limits
from shared.frames import FrameBuilder, FrameError, is_frame, join, split


def event(n: int) -> bytes:
    return json.dumps({"event_id": f"e{n}", "station_id": f"s{n % 3}", "name": "Ave & \u00e9 [x]"}).encode()


def test_a_frame_splits_into_its_events_byte_for_byte() -> None:
    events = [event(n) for n in range(5)]
    frame = join(events)
    assert is_frame(frame)
    assert json.loads(frame) == [json.loads(e) for e in events]
    assert split(frame) == events


def test_a_single_event_record_is_one_event_and_whitespace_before_a_frame_is_allowed() -> None:
    assert split(event(1)) == [event(1)]
    assert not is_frame(event(1))
    assert split(b"  \n" + join([event(2)])) == [event(2)]
    assert split(b"") == [b""], "an empty record is one (bad) event, for the checks to refuse"


@pytest.mark.parametrize("payload", [b"[1, 2", b'[{"a": 1}', b"[}"])
def test_a_broken_frame_is_refused_whole(payload: bytes) -> None:
    with pytest.raises(FrameError):
        split(payload)


def test_a_frame_over_the_event_limit_is_refused() -> None:
    split(b"[" + b",".join([b"1"] * limits.FRAME_EVENTS_MAX) + b"]")
    with pytest.raises(FrameError, match="a frame of 10001 events"):
        split(b"[" + b",".join([b"1"] * (limits.FRAME_EVENTS_MAX + 1)) + b"]")


def test_the_builder_closes_frames_by_count_and_by_size_and_keeps_order_per_partition() -> None:
    builder = FrameBuilder(max_events=3, max_bytes=10_000)
    out: list[tuple[int, bytes]] = []
    for n in range(10):
        if (frame := builder.add(n % 2, event(n))) is not None:
            out.append((n % 2, frame))
    out += list(builder.drain())
    assert list(builder.drain()) == []
    per_partition: dict[int, list[bytes]] = {0: [], 1: []}
    for partition, frame in out:
        assert len(split(frame)) <= 3
        per_partition[partition] += split(frame)
    assert per_partition == {0: [event(n) for n in range(0, 10, 2)], 1: [event(n) for n in range(1, 10, 2)]}

    small = FrameBuilder(max_events=1000, max_bytes=3 * len(event(0)))
    frames = [f for n in range(7) if (f := small.add(0, event(n))) is not None] + [f for _, f in small.drain()]
    assert all(len(f) <= 3 * len(event(0)) for f in frames)
    assert [e for f in frames for e in split(f)] == [event(n) for n in range(7)]
