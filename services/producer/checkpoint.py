"""The producer's durable position, so a killed run restarted with the same arguments goes on.

One directory per run fingerprint (a hash of the arguments, the selected objects with their ETags or
modification times, and the Kafka cluster/topic): `position.json` and the sorted spill files of every
reader (one per worker process) with the dead-letter files.

The published sequence is deterministic - dead letters in file order, then opening stock, then events
in (event time, event id) order - so the position is one number: how many items of it Kafka has
acknowledged. `position.json` is replaced atomically (write, fsync, rename) after each acknowledged
window. A restart skips that many items: nothing is lost, and what was sent after the last save is
sent again with the same event ids (the sink writes each id once). `sorted` marks the spill complete,
so a restart after the read phase does not read the sources again; a kill during reading (when
several worker processes write runs) restarts reading from scratch. A finished run removes its directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from services.producer.in_order import InOrder

logger = logging.getLogger(__name__)


@dataclass
class Position:
    fingerprint: str
    sorted: bool = False
    published: int = 0
    letters: int = 0
    events: int = 0
    runs: list[str] = field(default_factory=list)
    """every reader's sorted run files (names in the directory)"""
    letter_files: list[str] = field(default_factory=list)
    """the dead-letter files, one per object that had bad rows, in the selection's order"""
    reading: dict[str, Any] = field(default_factory=dict)
    """the read phase's report (rows, files, rejected files), kept for the summary of a resumed run"""


def fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Checkpoint:
    def __init__(self, root: Path, run_fingerprint: str) -> None:
        self.directory = root / run_fingerprint
        self.file = self.directory / "position.json"
        self.fingerprint = run_fingerprint

    def load(self) -> Position:
        """The saved position, or a fresh one (and an empty directory) when there is none."""
        if self.file.exists():
            saved = Position(**json.loads(self.file.read_text()))
            if saved.sorted and all((self.directory / name).exists() for name in [*saved.runs, *saved.letter_files]):
                return saved
            logger.info("resume position %s has no complete spill; reading again", self.file)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        return Position(self.fingerprint)

    def save(self, position: Position) -> None:
        temporary = self.file.with_suffix(".tmp")
        with open(temporary, "w") as out:
            json.dump(asdict(position), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.file)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class BackgroundSaves:
    """`Checkpoint.save` of each acknowledged position, in order, on a thread of its own: its fsyncs (a few ms
    each, one per window: 40 in 2 million events) no longer hold the publishing loop. A kill before a save
    is on disk resumes from the save before it, re-sending one more window with the same ids, as a kill
    just before that acknowledgement would. A failed save fails the run at the next save or at `close`."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self._saves = InOrder("checkpoint")

    def save(self, position: Position) -> None:
        self._saves.submit(self.checkpoint.save, replace(position))

    def close(self, check: bool = True) -> None:
        """Wait for every save; with `check`, raise the first failure."""
        self._saves.wait(check)

    def __enter__(self) -> BackgroundSaves:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close(check=kind is None)  # a failure already on its way out is not hidden by a save's
