"""Record batches built in a thread (`batches.BuiltBatch`) are the batches aiokafka builds itself.

Against aiokafka's own path (a `BatchBuilder` filled, given the producer state by the sender, then built
in the sender): the same bytes, for each compression, with a producer state written after the build;
aiokafka's reader finds the CRC valid, the state and the records. zstd compressed here from an
uncompressed batch, or from `Records` (values kept as given, encoded here): at aiokafka's level 3 its very
bytes, at ours the same records. And the publisher hands aiokafka the same records per partition in the
same order with uncompressed batches (`test_producer_blocks.py`'s Kafka), aiokafka's zstd, ours from an
uncompressed builder and ours from `Records`, on real events.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from services.producer.batches import ZSTD_LEVEL, BuiltBatch, Records, plain_batch
from services.producer.publisher import Publisher
from services.producer.reading import micros
from services.producer.row_reader import Plausible, read_document
from services.producer.spill import ExternalSorter, merge_blocks
from shared import topics
from shared.events import TripEvent, encode
from tests.unit.test_producer_blocks import Kafka as PlainKafka
from tests.unit.trip_files import TRIP_FILES

CODECS = {"none": 0, "gzip": 1, "lz4": 3, "zstd": 4}
STATE = (123_456_789, 7, 4242)


def real_events() -> list[bytes]:
    data = TRIP_FILES["JC-202102"].read_bytes()
    items = read_document("JC-202102", io.BufferedReader(io.BytesIO(data)), Plausible())
    return [encode(item) for item in items if isinstance(item, TripEvent)]


def filled(codec: int, values: list[bytes], size: int = 1024 * 1024) -> BatchBuilder:
    builder = BatchBuilder(size, codec)
    for offset, value in enumerate(values):
        assert builder.append(timestamp=1_700_000_000_000 + offset, key=None, value=value) is not None
    return builder


@pytest.mark.parametrize("codec", list(CODECS))
def test_a_batch_built_in_a_thread_is_the_batch_aiokafka_builds(codec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gzip, "time", SimpleNamespace(time=lambda: 1_700_000_000.0))  # gzip's header holds the time
    values = real_events()[:1500]
    theirs = filled(CODECS[codec], values)
    theirs._set_producer_state(*STATE)  # what the sender does, then it builds
    expected = bytes(theirs._build())

    built = asyncio.run(_in_thread(filled(CODECS[codec], values)))
    assert built.record_count() == len(values)
    built._set_producer_state(*STATE)
    assert bytes(built._build()) == expected

    batch = DefaultRecordBatch(bytes(built._build()))
    assert batch.validate_crc()
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == STATE
    assert batch.compression_type == (CODECS[codec] if codec != "none" else 0)
    assert [record.value for record in batch] == values


async def _in_thread(builder: BatchBuilder, zstd_level: int | None = None) -> BuiltBatch:
    return await asyncio.to_thread(BuiltBatch, builder, zstd_level)


def test_zstd_at_aiokafkas_level_here_is_aiokafkas_batch_and_at_ours_the_same_records() -> None:
    values = real_events()[:1500]
    theirs = filled(CODECS["zstd"], values)
    theirs._set_producer_state(*STATE)
    expected = bytes(theirs._build())

    at_three = asyncio.run(_in_thread(filled(CODECS["none"], values), 3))  # aiokafka's fixed level
    at_three._set_producer_state(*STATE)
    assert bytes(at_three._build()) == expected

    ours = asyncio.run(_in_thread(filled(CODECS["none"], values), ZSTD_LEVEL))
    ours._set_producer_state(*STATE)
    batch = DefaultRecordBatch(bytes(ours._build()))
    assert batch.validate_crc()
    assert batch.compression_type == CODECS["zstd"]
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == STATE
    assert [(record.timestamp, record.value) for record in batch] == [
        (1_700_000_000_000 + offset, value) for offset, value in enumerate(values)
    ]
    assert len(ours._build()) < len(expected) * 1.1  # compressed about as well


def test_records_that_do_not_shrink_are_compressed_as_aiokafka_compresses_them() -> None:
    values = [b"".join(hashlib.sha512(bytes([i])).digest() for i in range(64))]  # 4 KiB, nothing to gain
    theirs = filled(CODECS["zstd"], values)
    theirs._set_producer_state(*STATE)
    built = BuiltBatch(filled(CODECS["none"], values), 3)
    built._set_producer_state(*STATE)
    assert bytes(built._build()) == bytes(theirs._build())


@pytest.mark.parametrize("size", [300, 4096, 64 * 1024, 1024 * 1024])
def test_records_compressed_here_are_the_batch_aiokafka_builds_at_its_level(size: int) -> None:
    """`Records` (values kept, encoded in the build thread) against a zstd `BatchBuilder` given the same records
    and times: the same "full" answers, at 300 bytes (full at the first record after the first) up to 1 MiB,
    and at aiokafka's level the same bytes; keys and views of a larger buffer are records too."""
    values = real_events()[:3000]
    stream = b"".join(values)
    views, at = [], 0
    for value in values:
        views.append(memoryview(stream)[at : at + len(value)])
        at += len(value)
    theirs, ours = filled(CODECS["zstd"], [], size), Records(size)
    for offset, (value, view) in enumerate(zip(values, views, strict=True)):
        key = None if offset % 3 else value[: offset % 7]
        timestamp = 1_700_000_000_000 + 3 * offset
        answer = theirs.append(timestamp=timestamp, key=key, value=value)
        assert (answer is None) == (ours.append(timestamp=timestamp, key=key, value=view) is None), offset
        if answer is None:
            break
    assert ours.record_count() == theirs.record_count() >= 1
    theirs._set_producer_state(*STATE)
    built = BuiltBatch(ours, 3)
    built._set_producer_state(*STATE)
    assert bytes(built._build()) == bytes(theirs._build())
    at_ours = BuiltBatch(ours, ZSTD_LEVEL)
    at_ours._set_producer_state(*STATE)
    batch = DefaultRecordBatch(bytes(at_ours._build()))
    assert batch.validate_crc()
    assert [(record.key, record.value) for record in batch] == [
        (record.key, record.value) for record in DefaultRecordBatch(bytes(theirs._build()))
    ]


class BuildingKafka(PlainKafka):
    """aiokafka's side of `send_batch`: real `BatchBuilder`s (64 KiB, zstd); a batch handed over gets its
    producer state (the partition's sequence) and is read back by aiokafka's reader."""

    def __init__(self) -> None:
        super().__init__()
        self.sequence: dict[tuple[str, int], int] = {}

    def create_batch(self) -> Any:
        return BatchBuilder(64 * 1024, CODECS["zstd"])

    @staticmethod
    def plain_batch() -> Any:
        return plain_batch(64 * 1024)

    async def send_batch(self, builder: Any, topic: str, partition: int) -> asyncio.Future[None]:
        assert isinstance(builder, BuiltBatch), "a full batch reaches aiokafka built"
        tp = (topic, partition)
        builder._set_producer_state(1, 0, self.sequence.get(tp, 0))
        self.sequence[tp] = self.sequence.get(tp, 0) + builder.record_count()
        batch = DefaultRecordBatch(bytes(builder._build()))
        assert batch.validate_crc()
        self.sent.setdefault(tp, []).extend((record.key, record.value) for record in batch)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_the_publisher_sends_what_it_sent_before_through_the_build_thread(tmp_path: Path) -> None:
    sorter = ExternalSorter(tmp_path, run_events=2000)
    data = TRIP_FILES["JC-202102"].read_bytes()
    for item in read_document("JC-202102", io.BufferedReader(io.BytesIO(data)), Plausible()):
        if isinstance(item, TripEvent):
            sorter.add((micros(item.event_time), item.event_id, (item.station_id or "").encode(), encode(item)))
    runs = sorter.finish()
    sent = {}
    ways = {
        "plain": None,
        "aiokafka's zstd": None,
        "ours": BuildingKafka.plain_batch,
        "records": lambda: Records(64 * 1024),
    }
    for how, new_batch in ways.items():
        kafka = PlainKafka() if how == "plain" else BuildingKafka()
        publisher = Publisher(
            kafka,
            1000,
            frame_topics=frozenset({topics.RAW}),
            frame_events=50,
            new_batch=new_batch,
            zstd_level=ZSTD_LEVEL if new_batch is not None else None,
        )
        await publisher.prepare([topics.RAW])
        end = await publisher.publish_blocks(topics.RAW, merge_blocks(runs), 0)
        assert end == sorter.count
        sent[how] = kafka.sent
    assert sent["aiokafka's zstd"] == sent["plain"]
    assert sent["ours"] == sent["plain"]
    assert sent["records"] == sent["plain"]
    frames = list(itertools.chain.from_iterable(sent["ours"].values()))
    assert len(frames) > 100  # many frames, in many batches per partition
