"""Small parts of the producer's fast path: the checkpoint saved off the loop, glibc's malloc thresholds, and
New York times moved to UTC by a table of a chunk's hours or by its distinct hours alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from services.producer.checkpoint import BackgroundSaves, Checkpoint, Position
from services.producer.columnar_values import SPAN_HOURS, new_york_to_utc
from services.producer.malloc_tuning import keep_freed_memory

NEW_YORK = ZoneInfo("America/New_York")


def test_background_saves_land_in_order_and_the_last_one_stays(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path, "abc")
    position = checkpoint.load()
    saves = BackgroundSaves(checkpoint)
    for published in range(0, 50_000, 1000):
        position.published = published
        saves.save(position)  # a snapshot: the position changes on while it is being written
    position.published = 123_456_789
    saves.close()
    assert json.loads(checkpoint.file.read_text())["published"] == 49_000
    assert checkpoint.load().published == 0  # not `sorted`: a load reads again, as before


def test_a_failed_background_save_fails_the_run(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path, "abc")
    checkpoint.load()
    checkpoint.directory.rename(tmp_path / "gone")  # its directory removed under it
    saves = BackgroundSaves(checkpoint)
    saves.save(Position("abc", published=1))
    with pytest.raises(FileNotFoundError):
        saves.close()


def test_malloc_thresholds_are_set_where_the_c_library_is_glibc() -> None:
    assert keep_freed_memory()


def _local_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1)) // timedelta(microseconds=1)  # noqa: DTZ001 - wall clock


@pytest.mark.parametrize("year", [2014, 2021, 2024])
def test_new_york_times_by_table_and_by_distinct_hours_are_zoneinfos(year: int) -> None:
    """Every 17 minutes of a year, spring and autumn changes included: in narrow chunks (the table of their
    hours) and all at once (over SPAN_HOURS: the distinct hours), against zoneinfo's UTC offsets."""
    start = datetime(year, 1, 1)  # noqa: DTZ001 - wall clock
    walls = [start + timedelta(minutes=17 * i) for i in range(366 * 24 * 60 // 17)]
    local = np.array([_local_us(wall) for wall in walls], np.int64)
    assert (local[-1] - local[0]) // 3_600_000_000 > SPAN_HOURS
    whole, whole_single = new_york_to_utc(local)
    parts = [new_york_to_utc(part) for part in np.array_split(local, 100)]
    assert np.array_equal(whole, np.concatenate([utc for utc, _ in parts]))
    assert np.array_equal(whole_single, np.concatenate([single for _, single in parts]))
    for wall, utc, single in zip(walls, whole.tolist(), whole_single.tolist(), strict=True):
        early = wall.replace(tzinfo=NEW_YORK, fold=0)
        late = wall.replace(tzinfo=NEW_YORK, fold=1)
        assert single == (
            early.utcoffset() == late.utcoffset()
            and early.astimezone(UTC).astimezone(NEW_YORK).replace(tzinfo=None) == wall
        )
        if single:
            assert utc == (early.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
