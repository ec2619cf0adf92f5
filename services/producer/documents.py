"""The CSV documents inside one trip file, read as numbered text lines with bounded memory.

A plain `.csv` is one document. A `.zip` (monthly, Jersey City, or yearly with monthly CSVs split into
parts, in nested folders) yields its CSV members in time order, read straight from the (ranged) source
file by `zipfile` - nothing is unpacked to disk; a zip inside the zip is read the same way. `__MACOSX/`
and `._*` entries are ignored; any other member that is not a CSV is skipped with a log line.

`text_lines` reads lines of at most `MAX_LINE_BYTES`: a longer line, or one that is not UTF-8, is
reported through `bad` (line number, reason, payload) and replaced by an empty line, so line numbers
stay true and the rest of the document goes on.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from services.producer.sources import in_months, time_order_key
from shared.limits import DEAD_LETTER_PAYLOAD_MAX, MAX_LINE_BYTES

logger = logging.getLogger(__name__)

READ_BUFFER = 1024 * 1024
Months = tuple[tuple[int, int], tuple[int, int]] | None


class NoCsvInside(ValueError):
    """A zip archive holds no CSV member (in the selected months)."""


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str
    payload: str


def documents(url: str, file: IO[bytes], months: Months = None) -> Iterator[tuple[str, IO[bytes]]]:
    """(name, binary stream) of each CSV in the file; `name` is `url` or `url!member`.

    Raises `zipfile.BadZipFile` for an unreadable archive and `NoCsvInside` for one without CSVs.
    """
    if url.endswith(".zip"):
        yield from _zip_documents(url, file, months)
    else:
        yield url, file


def _zip_documents(name: str, file: IO[bytes], months: Months) -> Iterator[tuple[str, IO[bytes]]]:
    found = 0
    with zipfile.ZipFile(file) as archive:
        for member in _members(name, archive, months):
            inner = f"{name}!{member.filename}"
            with archive.open(member) as stream:
                if member.filename.lower().endswith(".zip"):
                    # a zip inside the zip: zipfile seeks in the member (fast when stored, re-inflates if deflated)
                    for document in _zip_documents(inner, stream, months):
                        found += 1
                        yield document
                else:
                    found += 1
                    yield inner, io.BufferedReader(stream, buffer_size=READ_BUFFER)  # type: ignore[type-var]
    if not found:
        raise NoCsvInside(f"{name}: the zip holds no CSV" + (" for the selected months" if months else ""))


def skipped_member(name: str, member: str) -> None:
    logger.info("skipping %s!%s: not a CSV", name, member)


def _members(
    name: str, archive: zipfile.ZipFile, months: Months, skipped: list[str] | None = None
) -> list[zipfile.ZipInfo]:
    """The members read, in time order: CSVs and zips in the selected months; the others are skipped with
    a log line (or, given `skipped`, listed there for the caller to log)."""
    members = [m for m in archive.infolist() if not m.is_dir() and not _is_metadata(m.filename)]
    chosen = []
    for member in sorted(members, key=lambda m: time_order_key(m.filename)):
        if not member.filename.lower().endswith((".csv", ".zip")):
            if skipped is None:
                skipped_member(name, member.filename)
            else:
                skipped.append(member.filename)
            continue
        if months is None or in_months(member.filename, months):
            chosen.append(member)
    return chosen


def csv_members(url: str, file: IO[bytes], months: Months = None) -> tuple[list[str], list[str]]:
    """(the CSV members `documents` reads from a zip, in its order, so that readers can share them out;
    the members it skips as not CSV). No members when the zip cannot be split that way (unreadable, no
    CSV, or a zip inside: it is read whole)."""
    skipped: list[str] = []
    try:
        with zipfile.ZipFile(file) as archive:
            members = [m.filename for m in _members(url, archive, months, skipped)]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return [], []
    return ([], []) if any(m.lower().endswith(".zip") for m in members) else (members, skipped)


def member_document(url: str, file: IO[bytes], member: str) -> Iterator[tuple[str, IO[bytes]]]:
    """The one CSV document `member` of the zip `url`, as `documents` yields it."""
    with zipfile.ZipFile(file) as archive, archive.open(member) as stream:
        yield f"{url}!{member}", io.BufferedReader(stream, buffer_size=READ_BUFFER)  # type: ignore[type-var]


def _is_metadata(filename: str) -> bool:
    base = filename.rsplit("/", 1)[-1]
    return filename.startswith("__MACOSX/") or "/__MACOSX/" in filename or base.startswith("._") or base == ".DS_Store"


def text_lines(file: IO[bytes], bad: list[BadLine], first: int = 1) -> Iterator[str]:
    """Decoded lines (a UTF-8 BOM dropped); bad lines go to `bad` and come out as empty lines. `first`: the
    document line `file` starts at (when the lines before it were read elsewhere)."""
    readline = file.readline
    number = first - 1
    while line := readline(MAX_LINE_BYTES):
        number += 1
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if len(line) >= MAX_LINE_BYTES and not line.endswith(b"\n"):
            length = len(line)
            while (more := readline(MAX_LINE_BYTES)) and not more.endswith(b"\n"):
                length += len(more)  # skipped without holding it: memory stays at one buffer
            length += len(more)
            head = line[:DEAD_LETTER_PAYLOAD_MAX].decode("utf-8", "backslashreplace")
            bad.append(BadLine(number, f"line of {length} bytes is longer than the limit of {MAX_LINE_BYTES}", head))
            yield "\n"
            continue
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8: byte 0x{line[exc.start]:02x} at column {exc.start + 1}"
            bad.append(BadLine(number, reason, line.decode("utf-8", "backslashreplace").rstrip("\r\n")))
            yield "\n"


class _PrefixedRaw(io.RawIOBase):
    def __init__(self, prefix: bytes, rest: IO[bytes] | None) -> None:
        super().__init__()
        self.prefix, self.at, self.rest = memoryview(prefix), 0, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.at < len(self.prefix):
            n = min(len(buffer), len(self.prefix) - self.at)
            buffer[:n] = self.prefix[self.at : self.at + n]
            self.at += n
            return n
        if self.rest is None:
            return 0
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def prefixed(prefix: bytes, rest: IO[bytes] | None) -> IO[bytes]:
    """A stream of `prefix` (bytes already read from `rest`) then the rest of `rest`."""
    return io.BufferedReader(_PrefixedRaw(prefix, rest), buffer_size=READ_BUFFER)
