"""The reading phase in N worker processes (`BIKESHARE_READ_WORKERS`), one per core.

Reading (csv parsing, two events per row, ids, times, checks, encoding, the run sort) is pure CPU in
Python, so threads would share one core; processes do not. Each worker is a *spawned* process (never a
fork of a process that runs threads and an event loop) that takes whole objects - or one CSV member of a
zip holding several (a yearly zip, a month in parts) - from a task queue (the next free worker takes the
next one, so a big file does not hold the others up), reads them with
its own `Reader` into its own sorter (`run-wN-00000.arrow`, ...: one run of `run_events` in memory per
worker, so the bound is workers x run) and one dead-letter file per object, and reports on a result
queue: progress (rows, events), one `ObjectResult` per object, and at the end its run files. The parent
merges every worker's runs exactly as one reader's: records are ordered by (event time, event id, key,
payload), so the published sequence does not depend on which worker read what.

S3: each worker opens its own aiobotocore client on its own event loop (a thread of the worker); no
client crosses a process. A worker exits when the parent dies (SIGKILL included), so a killed run leaves
nobody writing into a checkpoint directory that the restarted run reads again from scratch.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from services.producer.arrays import keep_pandas_out
from services.producer.documents import Months
from services.producer.malloc_tuning import keep_freed_memory
from services.producer.progress import Progress, peak_rss_mb
from services.producer.reading import ObjectResult, Reader
from services.producer.settings import ProducerSettings
from services.producer.sources import Source, SourceObject
from services.producer.sources.local import LocalSource
from services.producer.spill import ExternalSorter, LetterFile
from shared.logs import configure_logging

logger = logging.getLogger(__name__)


class ReadFailed(RuntimeError):
    """A reading process died or failed outside any one object (the message names it); the run stops."""


@dataclass(frozen=True)
class Job:
    """What every worker needs (pickled once per worker)."""

    settings: ProducerSettings
    start: datetime | None
    until: datetime | None
    shard: tuple[int, int]
    months: Months
    directory: Path
    objects: list[SourceObject]
    tasks: list[tuple[int, str | None]]
    """(object index, zip member or None for the whole object), in the order a single reader reads them"""


@dataclass
class ReadOutcome:
    results: list[ObjectResult]
    runs: list[str]
    events: int
    peak_rss_mb: float = 0.0
    """the sum of the reading processes' own peaks (VmHWM)"""


def wanted(settings: ProducerSettings) -> int:
    """Reading processes wanted: the setting (default: the CPUs, at most 4); 1 reads in a thread."""
    return settings.read_workers or min(os.cpu_count() or 1, 4)


def letters_name(index: int) -> str:
    return f"letters-{index:05d}.bin"


def read_in_processes(job: Job, workers: int, progress: Progress, readers: Readers | None = None) -> ReadOutcome:
    """Read every object of `job` in `workers` processes (`readers`' forked ones, or spawned now); the
    parent only counts and waits."""
    if readers is not None:
        return readers.read(job, workers, progress)
    context = multiprocessing.get_context("spawn")
    tasks: Any = context.Queue()
    results: Any = context.Queue()
    processes = [
        context.Process(target=_worker, args=(number, job, tasks, results), name=f"producer-reader-{number}")
        for number in range(workers)
    ]
    for process in processes:
        process.start()
    return _collect(job, processes, tasks, results, progress)


class Readers:
    """Reading processes forked when `python -m services.producer` starts, while it has no thread, event
    loop or connection yet (only its imports): they need no start-up of their own (a spawned one imports
    numpy, pyarrow and pydantic again: about 0.5 s of a core with compiled bytecode, 1 s without),
    and that is done before the producer connects to Kafka and lists its sources. Each waits for a `Job`
    (or None: not needed, e.g. a resumed run or a single file) and then reads as a spawned one does."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("fork")
        # A queue of its own per process: with one shared queue, a process meant to exit could take the job
        # and one meant to read the None (then joined, or killed, as an unused one while reading).
        self._jobs: list[Any] = [context.Queue() for _ in range(count)]
        self._tasks: Any = context.Queue()
        self._results: Any = context.Queue()
        self.processes = [
            context.Process(
                target=_forked_worker,
                args=(number, self._jobs[number], self._tasks, self._results),
                name=f"producer-reader-{number}",
            )
            for number in range(count)
        ]
        for process in self.processes:
            process.start()

    def read(self, job: Job, workers: int, progress: Progress) -> ReadOutcome:
        """`job` read by `workers` of the processes (at most all of them); the others exit."""
        workers = min(workers, len(self.processes))
        used, self.processes = self.processes[:workers], self.processes[workers:]
        used_jobs, self._jobs = self._jobs[:workers], self._jobs[workers:]
        for jobs in used_jobs:
            jobs.put(job)
        self.close()
        return _collect(job, used, self._tasks, self._results, progress)

    def close(self) -> None:
        """The processes not given a job exit (a read's own processes are joined by the read)."""
        for jobs in self._jobs:
            jobs.put(None)
        self._jobs = []
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        self.processes = []


def _collect(job: Job, processes: list[Any], tasks: Any, results: Any, progress: Progress) -> ReadOutcome:
    workers = len(processes)
    for index in range(len(job.tasks)):
        tasks.put(index)
    for _ in range(workers):
        tasks.put(None)
    logger.info("reading %d objects (%d parts) in %d worker processes", len(job.objects), len(job.tasks), workers)
    outcome = ReadOutcome([], [], 0)
    finished: set[int] = set()
    try:
        while len(finished) < workers:
            try:
                message = results.get(timeout=0.5)
            except queue.Empty:
                _check_alive(processes, finished)
                progress.tick()
                continue
            kind = message[0]
            if kind == "rows":
                progress.add(message[1], message[2])
            elif kind == "object":
                outcome.results.append(message[1])
                progress.files_done += message[1].files
            elif kind == "done":
                finished.add(message[1])
                outcome.runs += message[2]
                outcome.events += message[3]
                outcome.peak_rss_mb += message[4]
            else:  # "failed"
                raise ReadFailed(f"reading process {message[1]} failed: {message[2]}")
    finally:
        for process in processes:
            process.join(timeout=10 if len(finished) == workers else 0.1)
            if process.is_alive():
                process.kill()
                process.join()
        tasks.cancel_join_thread()  # tasks nobody will take (after a failure) must not hold this process's exit
    outcome.results.sort(key=lambda r: r.index)
    outcome.runs.sort()
    return outcome


def _check_alive(processes: list[Any], finished: set[int]) -> None:
    for number, process in enumerate(processes):
        if number not in finished and not process.is_alive():
            raise ReadFailed(f"reading process {number} exited with code {process.exitcode} before it finished")


def _forked_worker(number: int, jobs: Any, tasks: Any, results: Any) -> None:
    """A `Readers` process: waits for its job, then reads (the parent's logging set-up came with the fork)."""
    _exit_with_parent()
    job = jobs.get()
    if job is not None:
        _read(number, job, tasks, results)


def _worker(number: int, job: Job, tasks: Any, results: Any) -> None:
    """One reading process: objects from `tasks` until a None, then its runs."""
    keep_pandas_out()
    keep_freed_memory()
    configure_logging(job.settings.log_level, job.settings.log_format)
    _exit_with_parent()
    _read(number, job, tasks, results)


def _read(number: int, job: Job, tasks: Any, results: Any) -> None:
    try:
        with _sources(job.settings, job.objects) as source_of:
            sorter = ExternalSorter(job.directory, job.settings.run_events, name=f"run-w{number}")
            reader = Reader(
                job.settings,
                job.start,
                job.until,
                job.shard,
                job.months,
                sorter,
                lambda rows, events: results.put(("rows", rows, events)),
            )
            while (index := tasks.get()) is not None:
                number_of_object, member = job.tasks[index]
                first = index == 0 or job.tasks[index - 1][0] != number_of_object
                obj = job.objects[number_of_object]
                letters = LetterFile(job.directory / letters_name(index))
                result = reader.read_object(index, obj, source_of(obj), letters, member, first)
                results.put(("object", result))
            runs = sorter.finish()
        results.put(("done", number, [run.name for run in runs], sorter.count, peak_rss_mb()))
    except BaseException as exc:
        logger.exception("reading process %d failed", number)
        results.put(("failed", number, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        results.close()
        results.join_thread()  # everything put is handed to the pipe before the process exits


def _exit_with_parent() -> None:
    """Exit at once when the parent dies (its sentinel becomes ready), whatever this process is doing."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@contextmanager
def _sources(settings: ProducerSettings, objects: list[SourceObject]) -> Iterator[Callable[[SourceObject], Source]]:
    """The source for each object; S3 through this process's own client, on its own loop in a thread."""
    local = LocalSource()
    if not any(obj.url.startswith("s3://") for obj in objects):
        yield lambda obj: local
        return
    from services.producer.sources.s3 import S3Source, s3_client  # aiobotocore: only for a worker that needs it

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="s3-loop", daemon=True)
    thread.start()
    client_context = s3_client(settings)
    try:
        client = asyncio.run_coroutine_threadsafe(client_context.__aenter__(), loop).result(60)
        try:
            remote = S3Source(client, loop)
            yield lambda obj: remote if obj.url.startswith("s3://") else local
        finally:
            asyncio.run_coroutine_threadsafe(client_context.__aexit__(None, None, None), loop).result(60)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
