"""Which trip files a run replays, in time order: keys, prefixes, globs, local paths and a month range.

Targets: `s3://bucket/key-or-prefix-or-glob`, a local path/directory/glob, or a bare key in the
settings' bucket (`--prefix P` lists the bucket under P). A glob is matched (fnmatch) against keys
listed under the pattern's literal prefix. `--from-month`/`--to-month` keep files whose name holds a
month in the range (a yearly zip if its year overlaps; its members are filtered again by name).
"""

from __future__ import annotations

import fnmatch
import glob
import re
from dataclasses import dataclass
from typing import Any

from services.producer.sources import TRIP_FILE_SUFFIXES, SourceError, SourceObject, in_months, time_order_key
from services.producer.sources.local import list_paths, looks_local

Month = tuple[int, int]
_MONTH = re.compile(r"^(\d{4})-?(\d{2})$")


def parse_month(text: str) -> Month:
    found = _MONTH.match(text.strip())
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise ValueError(f"{text!r} is not a month like 2019-01")
    return int(found.group(1)), int(found.group(2))


@dataclass(frozen=True)
class Selection:
    objects: list[SourceObject]
    months: tuple[Month, Month] | None
    missing: list[tuple[str, str]]
    """(target, reason) of named keys or paths that cannot be read: rejected by name, the rest goes on"""

    @property
    def has_s3(self) -> bool:
        return any(o.url.startswith("s3://") for o in self.objects)


async def select(
    s3: Any, bucket: str, targets: list[str], prefix: str | None, months: tuple[Month, Month] | None
) -> Selection:
    """The selected objects, deduplicated and in time order (by the month in their names, then name)."""
    found: dict[str, SourceObject] = {}
    missing: list[tuple[str, str]] = []
    if prefix is not None or not targets:
        targets = [*targets, f"s3://{bucket}/{prefix or ''}"]
    for target in targets:
        try:
            resolved = await _resolve(s3, bucket, target)
        except MissingTarget as exc:
            missing.append((target, str(exc)))
            continue
        for obj in resolved:
            found[obj.url] = obj
    chosen = [o for o in found.values() if in_months(o.name, months)]
    return Selection(sorted(chosen, key=lambda o: time_order_key(o.name)), months, missing)


class MissingTarget(SourceError):
    """One named object or path cannot be read (the other targets can still be replayed)."""


async def _resolve(s3: Any, bucket: str, target: str) -> list[SourceObject]:
    if not target.startswith("s3://") and looks_local(target):
        try:
            return list_paths(target)
        except SourceError as exc:
            raise MissingTarget(str(exc)) from exc
    from services.producer.sources.s3 import head_object, list_objects, split_url  # aiobotocore: S3 targets only

    url = target if target.startswith("s3://") else f"s3://{bucket}/{target}"
    if not bucket and not target.startswith("s3://"):
        raise SourceError(f"{target!r} is neither a local path nor s3://bucket/key, and BIKESHARE_S3_BUCKET is unset")
    bucket_name, key = split_url(url)
    if glob.has_magic(key):
        literal = re.split(r"[*?\[]", key, maxsplit=1)[0]
        listed = await list_objects(s3, bucket_name, literal)
        return [o for o in listed if fnmatch.fnmatchcase(split_url(o.url)[1], key)]
    if key == "" or key.endswith("/"):
        return await list_objects(s3, bucket_name, key)
    if key.endswith(TRIP_FILE_SUFFIXES):
        try:
            return [await head_object(s3, bucket_name, key)]
        except SourceError as exc:
            raise MissingTarget(str(exc)) from exc
    return await list_objects(s3, bucket_name, key)  # a prefix without a trailing slash
