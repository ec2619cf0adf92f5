"""The batch a pipelined sink may have lost and its exact offset range (services/spark_sink/last_batch.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.spark_sink.handed_over import handed_over, note_handed_over
from services.spark_sink.last_batch import _range_options, handed_over_range

META = '{"batchWatermarkMs":0,"batchTimestampMs":1795989206495,"conf":{}}'


def _log(path: Path, body: str, nul: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(("\x00" if nul else "") + body)


def _checkpoint(root: Path, batches: list[dict[int, int]], committed: int) -> Path:
    _log(root / "sources" / "0" / "0", 'v1\n{"t":{"0":0,"1":0}}', nul=True)
    for n, ends in enumerate(batches):
        _log(root / "offsets" / str(n), f"v1\n{META}\n{json.dumps({'t': {str(p): o for p, o in ends.items()}})}")
        _log(root / "offsets" / f".{n}.crc", "junk")
    for n in range(committed + 1):
        _log(root / "commits" / str(n), 'v1\n{"nextBatchWatermarkMs":0}')
    return root


def test_no_note_or_no_commit_means_nothing_to_rewrite(tmp_path: Path) -> None:
    assert handed_over_range(tmp_path) is None
    _checkpoint(tmp_path, [{0: 5, 1: 7}], committed=0)
    assert handed_over(tmp_path) is None
    assert handed_over_range(tmp_path) is None  # never handed over: a non-pipelined writer committed it
    _checkpoint(tmp_path / "b", [{0: 5, 1: 7}], committed=-1)
    note_handed_over(tmp_path / "b", 0)
    assert handed_over_range(tmp_path / "b") is None  # not done in Spark's eyes: Spark reruns it itself


def test_batch_zero_starts_at_the_query_s_first_offsets(tmp_path: Path) -> None:
    _checkpoint(tmp_path, [{0: 5, 1: 7}], committed=0)
    note_handed_over(tmp_path, 0)
    assert handed_over_range(tmp_path) == (0, {"t": {"0": 0, "1": 0}}, {"t": {"0": 5, "1": 7}})


def test_the_handed_over_batch_runs_from_the_previous_batch_s_end(tmp_path: Path) -> None:
    # Batch 2 has offsets (planned) but no commit: Spark reruns it itself; batch 1 is the one to check.
    _checkpoint(tmp_path, [{0: 5, 1: 7}, {0: 9, 1: 7}, {0: 12, 1: 8}], committed=1)
    note_handed_over(tmp_path, 0)
    note_handed_over(tmp_path, 1)
    batch, start, end = handed_over_range(tmp_path) or (None, None, None)
    assert (batch, start, end) == (1, {"t": {"0": 5, "1": 7}}, {"t": {"0": 9, "1": 7}})
    options = _range_options(start or {}, end or {})
    assert json.loads(options["assign"]) == {"t": [0, 1]}
    assert json.loads(options["startingOffsets"]) == {"t": {"0": 5, "1": 7}}
    assert json.loads(options["endingOffsets"]) == {"t": {"0": 9, "1": 7}}


def test_a_batch_the_reset_tool_appended_is_not_taken_for_a_lost_one(tmp_path: Path) -> None:
    # tools.replay.reset appends batch 2 (committed, a new position, no data): the last batch the writer
    # took over is still 1, and its own range is what a rewrite would read.
    _checkpoint(tmp_path, [{0: 5, 1: 7}, {0: 9, 1: 7}, {0: 2, 1: 3}], committed=2)
    note_handed_over(tmp_path, 1)
    assert handed_over_range(tmp_path) == (1, {"t": {"0": 5, "1": 7}}, {"t": {"0": 9, "1": 7}})


def test_a_partition_added_since_the_start_is_read_from_its_earliest_offset() -> None:
    options = _range_options({"t": {"0": 5}}, {"t": {"0": 9, "1": 3}})
    assert json.loads(options["startingOffsets"]) == {"t": {"0": 5, "1": -2}}


def test_a_file_that_is_not_a_checkpoint_log_is_named(tmp_path: Path) -> None:
    _log(tmp_path / "commits" / "0", "v1\n{}")
    _log(tmp_path / "offsets" / "0", "garbage")
    note_handed_over(tmp_path, 0)
    with pytest.raises(ValueError, match="offsets/0: not a Spark checkpoint log file"):
        handed_over_range(tmp_path)
