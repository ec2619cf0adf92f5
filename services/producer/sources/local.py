"""Trip files on a local disk: a file, a directory (every .csv/.zip below it) or a glob pattern."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import BinaryIO

from services.producer.sources import TRIP_FILE_SUFFIXES, SourceError, SourceObject


def looks_local(target: str) -> bool:
    return target.startswith(("/", "./", "../", "~", "file://")) or Path(target).exists()


def list_paths(target: str) -> list[SourceObject]:
    """The trip files a local target names; a target that matches nothing is an error naming it."""
    pattern = str(Path(target.removeprefix("file://")).expanduser())
    paths = [Path(p) for p in glob.glob(pattern, recursive=True)] if glob.has_magic(pattern) else [Path(pattern)]
    found: list[SourceObject] = []
    for path in paths:
        if path.is_dir():
            found += [
                _object(p) for p in sorted(path.rglob("*")) if p.is_file() and p.name.endswith(TRIP_FILE_SUFFIXES)
            ]
        elif path.is_file():
            found.append(_object(path))
    if not found:
        raise SourceError(f"{target}: no such file, or no .csv/.zip file there")
    return found


def _object(path: Path) -> SourceObject:
    stat = path.stat()
    return SourceObject(str(path.resolve()), stat.st_size, f"{stat.st_mtime_ns}")


class LocalSource:
    def open(self, obj: SourceObject) -> BinaryIO:
        return open(obj.url, "rb", buffering=1024 * 1024)
