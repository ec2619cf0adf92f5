"""The block-at-a-time publishing path gives what the record-at-a-time one gives.

`spill.merge_blocks` (runs merged a block at a time by Arrow) against `spill.merge` (`heapq.merge` of
one record at a time): the same records in the same order, on real events spilled into many small runs,
with many equal times (the 2018 file has them to the millisecond, the 2021 one to the second) and the same
event twice. `Publisher.publish_blocks` against `Publisher.publish` of the same events one by one: the
same records (frames) per partition in the same order, the same acknowledged positions, with and without
a shard and a resume position, frames cut by count and by bytes, windows ending inside blocks.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import zlib
from pathlib import Path
from typing import Any

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from services.producer.batches import BuiltBatch
from services.producer.publisher import Publisher
from services.producer.reading import micros
from services.producer.row_reader import Plausible, read_document
from services.producer.spill import COLUMNS, ExternalSorter, merge, merge_blocks
from shared import topics
from shared.events import TripEvent, encode
from tests.unit.trip_files import TRIP_FILES


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    sorter = ExternalSorter(tmp_path_factory.mktemp("runs"), run_events=1000)
    for name in ("201801-1", "JC-202102"):
        data = TRIP_FILES[name].read_bytes()
        for item in read_document(name, io.BufferedReader(io.BytesIO(data)), Plausible()):
            if isinstance(item, TripEvent):
                record = (micros(item.event_time), item.event_id, (item.station_id or "").encode(), encode(item))
                sorter.add(record)
                if item.trip_id.startswith("1"):
                    sorter.add(record)  # the same event twice: ties on every column
    return sorter.finish()


def test_blocks_merge_as_records_do(runs: list[Path]) -> None:
    assert len(runs) > 30
    one_by_one = list(merge(runs))
    blocks = list(merge_blocks(runs))
    assert len(blocks) > 1
    by_blocks = [
        record for block in blocks for record in zip(*(block.column(name).to_pylist() for name in COLUMNS), strict=True)
    ]
    assert by_blocks == one_by_one
    assert one_by_one == sorted(one_by_one)


class Kafka:
    """What a publisher hands to aiokafka: batches per partition (aiokafka's own builder, uncompressed, 64 KiB),
    built in the publisher's thread; their records are read back in order."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3, 4}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(64 * 1024, 0)

    async def send_batch(self, builder: BuiltBatch, topic: str, partition: int) -> asyncio.Future[None]:
        batch = DefaultRecordBatch(bytes(builder._build()))
        assert batch.validate_crc()
        self.sent.setdefault((topic, partition), []).extend((record.key, record.value) for record in batch)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def _publish(runs: list[Path], by_blocks: bool, shard: tuple[int, int], begin: int, frame_bytes: int) -> Any:
    kafka = Kafka()
    acked: list[int] = []
    frames = {"frame_topics": frozenset({topics.RAW}), "frame_events": 50, "frame_bytes": frame_bytes}
    publisher = Publisher(kafka, 1000, on_acked=acked.append, **frames)  # type: ignore[arg-type]
    await publisher.prepare([topics.RAW])
    if by_blocks:
        end = await publisher.publish_blocks(topics.RAW, merge_blocks(runs), begin, begin, shard)
    else:
        mine = [
            (topics.RAW, key, payload, time_us)
            for time_us, _, key, payload in merge(runs)
            if zlib.crc32(key) % shard[1] == shard[0]
        ]
        end = await publisher.publish(itertools.islice(mine, begin, None), begin)
    return end, acked, kafka.sent


@pytest.mark.parametrize("shard", [(0, 1), (1, 3)])
@pytest.mark.parametrize("begin", [0, 4321])
@pytest.mark.parametrize("frame_bytes", [256 * 1024, 3000])
async def test_blocks_publish_what_items_do(
    runs: list[Path], shard: tuple[int, int], begin: int, frame_bytes: int
) -> None:
    one_by_one = await _publish(runs, False, shard, begin, frame_bytes)
    by_blocks = await _publish(runs, True, shard, begin, frame_bytes)
    assert by_blocks == one_by_one
    end, acked, sent = by_blocks
    assert end > begin + 5000
    assert acked[-1] == end
    assert sum(len(records) for records in sent.values()) > (end - begin) // 50
