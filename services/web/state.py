"""The in-memory state every read is served from: the current stations, kept current by the pushes.

The batch listener replaces it whole (at start, after a reconnect) or applies the stations a batch
changed. Each document (the `/api/stations` body, each GBFS file) is encoded, gzipped and hashed once
per state version, on the first request after a change, and then served as bytes to every request.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.web.stations import DataClock, StationRow, iso_utc

MAX_CACHED = 64


@dataclass(frozen=True, slots=True)
class Encoded:
    """A document as bytes: plain, gzipped, and its strong ETag (quoted, from the content)."""

    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, document: object) -> Encoded:
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        # mtime=0: the same content gives the same bytes (and ETag) on every replica.
        etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
        return cls(body, gzip.compress(body, compresslevel=6, mtime=0), etag)


class LiveState:
    def __init__(self) -> None:
        self._stations: dict[str, StationRow] = {}
        self._json: dict[str, dict[str, object]] = {}
        self.batch_id: int | None = None
        self.as_of: datetime | None = None
        self.loaded_at: datetime | None = None
        self.version = 0
        self._cache: dict[object, Encoded | None] = {}
        self._cache_version = -1

    @property
    def loaded(self) -> bool:
        return self.loaded_at is not None

    @property
    def stations(self) -> list[StationRow]:
        return [self._stations[k] for k in sorted(self._stations)]

    def __len__(self) -> int:
        return len(self._stations)

    def replace_all(self, rows: Iterable[StationRow], clock: DataClock) -> None:
        self._stations = {r.station_id: r for r in rows}
        self._json = {k: r.as_json() for k, r in self._stations.items()}
        self.batch_id, self.as_of = clock.batch_id, clock.as_of
        self.loaded_at = datetime.now(UTC)
        self.version += 1

    def apply(self, rows: Iterable[StationRow], clock: DataClock) -> list[dict[str, object]]:
        """Take a batch's changed stations; returns their Station JSON (for the websocket message)."""
        changed = []
        for row in rows:
            self._stations[row.station_id] = row
            self._json[row.station_id] = doc = row.as_json()
            changed.append(doc)
        self.batch_id, self.as_of = clock.batch_id, clock.as_of
        self.version += 1
        return changed

    def clock_json(self) -> dict[str, object]:
        return {"as_of": iso_utc(self.as_of) if self.as_of else None, "batch_id": self.batch_id}

    def api_body(self) -> dict[str, object]:
        return {"stations": [self._json[k] for k in sorted(self._json)], **self.clock_json()}

    def api_encoded(self) -> Encoded:
        """The `/api/stations` body."""
        found = self.encoded("api/stations", self.api_body)
        assert found is not None
        return found

    def encoded(self, key: object, build: Callable[[], object | None]) -> Encoded | None:
        """The document `build()` makes (None: there is none), encoded once per state version under `key`."""
        if self._cache_version != self.version:
            self._cache.clear()
            self._cache_version = self.version
        if key in self._cache:
            return self._cache[key]
        document = build()
        encoded = None if document is None else Encoded.of(document)
        if len(self._cache) < MAX_CACHED:  # keys can come from requests (Host): never grow without bound
            self._cache[key] = encoded
        return encoded
