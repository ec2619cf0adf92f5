"""Reading in worker processes (`BIKESHARE_READ_WORKERS`) changes nothing but the speed: on real trip files,
with a bad file and a broken zip among them, 1 and 2 workers give the same published sequence byte for
byte (dead letters apart from their `failed_at` clock), the same report and the same rejected files.

The sequence is the one `Replayer` hands to the publisher (dead letters, opening stock, events merged
from the spill runs), built here without Kafka; what Kafka makes of it is the stack tests' concern
(`test_producer_scale.py`: a kill while two workers read). The same holds when the files are on S3
(SeaweedFS), where each reading process opens its own client.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import uuid
import zipfile
import zlib
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from devstack import provision
from devstack.stack import BUCKET, Stack
from services.producer.checkpoint import Checkpoint
from services.producer.progress import Progress, descendants
from services.producer.read_workers import Job, Readers, ReadFailed, read_in_processes
from services.producer.replay import Replayer, ReplayOptions
from services.producer.selection import select
from services.producer.settings import ProducerSettings
from services.producer.sources.local import list_paths
from services.producer.sources.s3 import s3_client
from services.producer.spill import merge
from shared import topics
from shared.events import decode_dead_letter, decode_trip
from tests.producer_runs import corrupt_zip
from tests.unit.trip_files import SUBWAY_FILE, TRIP_FILES

Sequence = list[tuple[str, bytes, bytes, int | None]]


@pytest.fixture(scope="module")
def trip_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every era of real sample file, a zip of two of them, a file that is not a trip file and a broken zip."""
    directory = tmp_path_factory.mktemp("trips")
    for name in ("201801-1", "JC-201901", "cocteau-202409", "JC-202102"):
        shutil.copy(TRIP_FILES[name], directory / TRIP_FILES[name].name)
    # a month in parts, as the yearly zips hold them: two readers can share its members
    header, *lines = TRIP_FILES["201801-2"].read_text().splitlines(keepends=True)
    middle = len(lines) // 2
    with zipfile.ZipFile(directory / "201801-citibike-tripdata.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("2018-citibike-tripdata/201801-citibike-tripdata_2.csv", header + "".join(lines[middle:]))
        z.writestr("2018-citibike-tripdata/201801-citibike-tripdata_1.csv", header + "".join(lines[:middle]))
        z.writestr("2018-citibike-tripdata/README.txt", "not a CSV")
        z.writestr("__MACOSX/2018-citibike-tripdata/._201801-citibike-tripdata_1.csv", "metadata")
    shutil.copy(SUBWAY_FILE, directory / "201902-citibike-tripdata.csv")  # not a trip file
    (directory / "202001-citibike-tripdata.zip").write_bytes(corrupt_zip(TRIP_FILES["201801-1"]))
    return directory


async def replay_sequence(
    target: Path | str, checkpoints: Path, workers: int, options: ReplayOptions, stack: Stack | None = None
) -> Any:
    """(the published sequence, the report) of a replay read by `workers`, without Kafka; `target` a
    local directory, or an s3:// prefix on the stack's S3 (each reading process opens its own client)."""
    settings = ProducerSettings.model_validate(
        {
            "kafka_bootstrap_servers": "unused:1",
            "checkpoint_dir": checkpoints,
            "read_workers": workers,
            "run_events": 1000,  # many runs per worker
            "opening_stock": True,
            **(
                {
                    "s3_endpoint_url": stack.s3.endpoint,
                    "s3_bucket": BUCKET,
                    "aws_access_key_id": stack.access_key,
                    "aws_secret_access_key": stack.secret_key,
                }
                if stack
                else {}
            ),
        }
    )
    async with AsyncExitStack() as contexts:
        s3 = await contexts.enter_async_context(s3_client(settings)) if stack else None
        return await _replay_sequence(settings, s3, str(target), checkpoints, workers, options)


async def _replay_sequence(
    settings: ProducerSettings, s3: Any, target: str, checkpoints: Path, workers: int, options: ReplayOptions
) -> Any:
    replayer = Replayer(settings, kafka=None, s3=s3)
    selection = await select(s3, settings.s3_bucket, [target], None, None)
    assert replayer.workers(selection) == workers
    checkpoint = Checkpoint(checkpoints, f"workers-{workers}")
    position = checkpoint.load()
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(replayer._read_all, selection, options, checkpoint, position, loop)
    assert Checkpoint(checkpoints, f"workers-{workers}").load().runs == position.runs  # durable, complete
    # progress came back from the reading processes: every row, event and file
    assert (replayer.progress.rows, replayer.progress.events) == (replayer.report.rows, replayer.report.events)
    assert replayer.progress.files_done == len(selection.objects)
    runs = [checkpoint.directory / run for run in position.runs]
    index, shards = options.shard

    def mine(key: bytes) -> bool:
        return zlib.crc32(key) % shards == index

    stock = replayer._opening_stock(runs, mine)
    sequence: Sequence = list(replayer._sequence(checkpoint, position, runs, stock, mine))
    checkpoint.remove()
    return sequence, replayer.report


def without_clock(sequence: Sequence) -> Sequence:
    """Dead letters carry the time they were written; everything else must match byte for byte."""
    out = []
    for topic, key, payload, time_us in sequence:
        if topic == topics.DEAD_LETTER:
            payload = msgspec.json.encode({**msgspec.to_builtins(decode_dead_letter(payload)), "failed_at": None})
        out.append((topic, key, payload, time_us))
    return out


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def csv_rows(path: Path) -> int:
    with path.open(newline="") as f:
        return sum(1 for row in csv.reader(f) if row) - 1


OPTIONS = {
    "everything": ReplayOptions(),
    "window and shard": ReplayOptions(
        start=datetime.fromisoformat("2018-01-10T00:00:00+00:00"),
        until=datetime.fromisoformat("2021-02-20T00:00:00+00:00"),
        shard=(1, 2),
    ),
}


@pytest.mark.parametrize("case", list(OPTIONS))
async def test_two_workers_publish_what_one_does_and_name_the_bad_files(
    trip_directory: Path, tmp_path: Path, case: str
) -> None:
    options = OPTIONS[case]
    one, one_report = await replay_sequence(trip_directory, tmp_path, 1, options)
    two, two_report = await replay_sequence(trip_directory, tmp_path, 2, options)
    assert without_clock(two) == without_clock(one)
    assert two_report.rejected_files == one_report.rejected_files
    # whichever worker met them named them (in the selection's order), and the other files were read in full
    not_trips, broken = one_report.rejected_files
    assert not_trips == str(trip_directory / "201902-citibike-tripdata.csv")
    assert broken.startswith(str(trip_directory / "202001-citibike-tripdata.zip"))
    for field in ("files", "documents", "rows", "events", "bad_rows"):
        assert getattr(two_report, field) == getattr(one_report, field), field
    assert two_report.read_workers == 2
    assert one_report.read_workers == 1

    # independently of the producer: every data row of the good files, and the 4 rows of JC-202102
    # that end before they start (dead-lettered with their line)
    good = [*(TRIP_FILES[n] for n in ("201801-1", "JC-201901", "cocteau-202409", "JC-202102")), TRIP_FILES["201801-2"]]
    assert one_report.files == 7
    rows_read = one_report.rows  # includes the rows of the broken zip read before the break
    assert rows_read >= sum(csv_rows(path) for path in good)
    events = [decode_trip(payload) for topic, _, payload, time_us in one if topic == topics.RAW and time_us is not None]
    assert [(e.event_time, e.event_id) for e in events] == sorted((e.event_time, e.event_id) for e in events)
    letters = [decode_dead_letter(payload) for topic, _, payload, _ in one if topic == topics.DEAD_LETTER]
    if case == "everything":
        jc = [letter for letter in letters if "JC-202102" in letter.source]
        assert len(jc) == 4
        assert all("ends before it starts" in letter.reason for letter in jc)
        assert len(events) == one_report.events
        whole = [e for e in events if not e.source.startswith(broken)]
        assert len(whole) == 2 * (sum(csv_rows(path) for path in good) - 4)


@pytest.mark.stack
async def test_two_workers_read_s3_with_a_client_each_and_publish_what_one_does(
    stack: Stack, trip_directory: Path, tmp_path: Path
) -> None:
    prefix = f"workers-{uuid.uuid4().hex[:8]}/"
    await provision.ensure_bucket(
        stack.s3.endpoint,
        BUCKET,
        stack.access_key,
        stack.secret_key,
        {f"{prefix}{path.name}": path for path in await asyncio.to_thread(files_in, trip_directory)},
    )
    url = f"s3://{BUCKET}/{prefix}"
    one, one_report = await replay_sequence(url, tmp_path, 1, ReplayOptions(), stack)
    two, two_report = await replay_sequence(url, tmp_path, 2, ReplayOptions(), stack)
    assert without_clock(two) == without_clock(one)
    assert two_report.rejected_files == one_report.rejected_files
    assert one_report.rejected_files[0] == f"{url}201902-citibike-tripdata.csv"
    assert one_report.rejected_files[1].startswith(f"{url}202001-citibike-tripdata.zip")
    local, _ = await replay_sequence(trip_directory, tmp_path, 2, ReplayOptions())
    assert len(two) == len(local)  # S3 or local disk: the same items (their sources name where they came from)


async def test_the_members_of_one_zip_are_shared_out_and_read_as_one_reader_does(
    trip_directory: Path, tmp_path: Path
) -> None:
    zipped = trip_directory / "201801-citibike-tripdata.zip"  # one object, two CSV parts
    one, one_report = await replay_sequence(zipped, tmp_path, 1, ReplayOptions())
    two, two_report = await replay_sequence(zipped, tmp_path, 2, ReplayOptions())
    assert two_report.read_workers == 2  # a reader per part
    assert without_clock(two) == without_clock(one)
    assert (two_report.files, two_report.documents, two_report.rows) == (1, 2, csv_rows(TRIP_FILES["201801-2"]))
    assert (one_report.files, one_report.documents, one_report.rows) == (1, 2, two_report.rows)


async def test_a_reading_process_that_dies_stops_the_read_naming_it(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "spill"
    not_a_directory.write_text("a file where the spill directory should be")  # every worker fails to start
    settings = ProducerSettings.model_validate({"kafka_bootstrap_servers": "unused:1"})
    objects = list_paths(str(TRIP_FILES["JC-202102"])) * 2
    job = Job(settings, None, None, (0, 1), None, not_a_directory, objects, [(0, None), (1, None)])
    with pytest.raises(ReadFailed, match=r"reading process [01] failed: FileExistsError"):
        await asyncio.to_thread(read_in_processes, job, 2, Progress(stream=io.StringIO()))
    assert not [pid for pid in descendants(os.getpid()) if "spawn_main" in command_line(pid)], "a reader is left"


def test_forked_readers_read_what_spawned_ones_do_and_the_unused_one_exits(tmp_path: Path) -> None:
    """`python -m services.producer` forks its reading processes first thing (`Readers`) and hands them the
    job later: the same runs and results as processes spawned for the job; one given no job exits."""
    settings = ProducerSettings.model_validate({"kafka_bootstrap_servers": "unused:1", "run_events": 1000})
    objects = [*list_paths(str(TRIP_FILES["JC-202102"])), *list_paths(str(TRIP_FILES["201801-1"]))]
    read = {}
    for how in ("spawned", "forked"):
        job = Job(settings, None, None, (0, 1), None, tmp_path / how, objects, [(0, None), (1, None)])
        readers = Readers(3) if how == "forked" else None
        processes = list(readers.processes) if readers else []
        outcome = read_in_processes(job, 2, Progress(stream=io.StringIO()), readers)
        assert not [process for process in processes if process.is_alive()], "a forked reader is left"
        records = list(merge([tmp_path / how / run for run in outcome.runs]))
        read[how] = (records, [(r.index, r.files, r.rows, r.events, r.bad_rows) for r in outcome.results])
    assert len(read["forked"][0]) > 2 * csv_rows(TRIP_FILES["JC-202102"])
    assert read["forked"] == read["spawned"]


def command_line(pid: int) -> str:
    """(multiprocessing's resource tracker, also a child, stays for the life of this process: not a reader)"""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().decode(errors="replace")
    except OSError:
        return ""
