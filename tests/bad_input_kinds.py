"""The bad-input corpus for topic messages: every kind built here by hand (json module, no project code),
with the exact outcome the pipeline must give it.

* raw-topic kinds go through the enricher: a dead letter whose reason starts with the given text, or a
  clean event (`clean`), for odd-but-valid input;
* clean-topic kinds go straight to the sink (as if something else wrote the topic): a `sink_quarantine`
  row with exactly the given reason.

The corpus harness (`tests/test_bad_input_corpus.py`) publishes them between valid events and asserts
each outcome and that every valid event arrives intact. Bad files and rows are the producer's kinds
(tests/test_producer_*), bad requests the web's (tests/test_web_*); the README lists them all.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

VALID_TIME = datetime(2024, 9, 6, 20, 30, tzinfo=UTC)
IN_AREA = (40.7301, -73.9902)  # near Astor Place: inside the service area, no catalogue station there


@dataclass(frozen=True)
class Kind:
    name: str
    topic: str
    """"raw" (through the enricher) or "clean" (straight to the sink)"""
    payload: bytes
    outcome: str
    """"dead_letter", "quarantine" or "clean"."""
    reason: str = ""
    """dead letter: the reason's start; quarantine: the exact reason."""
    event_id: str | None = None


def raw_event(n: int, **changes: object) -> dict[str, object]:
    """A valid raw event (TripEvent JSON) of an unknown station inside the service area."""
    doc: dict[str, object] = {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"corpus/{n}")),
        "trip_id": f"corpus-trip-{n}",
        "kind": "start" if n % 2 else "end",
        "event_time": (VALID_TIME + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
        "station_id": f"CORPUS{n % 7}",
        "station_name": f"Corpus Station {n % 7}",
        "lat": IN_AREA[0] + (n % 7) / 1000,
        "lon": IN_AREA[1],
        "bike_id": f"bike-{n}",
        "rideable_type": "classic_bike",
        "count": 1,
        "source": f"corpus#{n}",
    }
    doc.update(changes)
    return doc


def clean_event(n: int, **changes: object) -> dict[str, object]:
    """A valid clean event (CleanEvent JSON)."""
    doc = raw_event(n)
    doc["street"] = doc.pop("station_name")
    doc.update(changes)
    return doc


def _json(doc: object) -> bytes:
    return json.dumps(doc).encode()


def _raw(n: int, name: str, reason: str, **changes: object) -> Kind:
    doc = raw_event(n, **changes)
    return Kind(name, "raw", _json(doc), "dead_letter", reason, str(doc["event_id"]))


def _without(n: int, field: str) -> bytes:
    doc = raw_event(n)
    del doc[field]
    return _json(doc)


def _clean(n: int, name: str, reason: str, **changes: object) -> Kind:
    doc = clean_event(n, **changes)
    return Kind(name, "clean", _json(doc), "quarantine", reason, str(doc["event_id"]))


def raw_kinds() -> list[Kind]:
    n = 1000
    not_a_trip = "not a TripEvent"
    return [
        Kind("raw: not JSON", "raw", b"this is not json", "dead_letter", not_a_trip),
        Kind("raw: empty message", "raw", b"", "dead_letter", not_a_trip),
        Kind("raw: broken frame (unterminated JSON array)", "raw", b'[{"a": 1}, 2, 3', "dead_letter", not_a_trip),
        Kind(
            "raw: frame of 10,001 events",
            "raw",
            b"[" + b",".join([b"1"] * 10_001) + b"]",
            "dead_letter",
            "not a TripEvent or a frame of them: a frame of 10001 events (limit 10000)",
        ),
        Kind(
            "raw: bytes that are not UTF-8",
            "raw",
            _json(raw_event(n, station_name="@@")).replace(b"@@", b"\xff\xfe"),
            "dead_letter",
            not_a_trip,
        ),
        Kind("raw: required field missing", "raw", _without(n + 1, "event_time"), "dead_letter", not_a_trip),
        Kind("raw: unknown field", "raw", _json(raw_event(n + 2, extra="x")), "dead_letter", not_a_trip),
        Kind(
            "raw: time without offset",
            "raw",
            _json(raw_event(n + 3, event_time="2024-09-06T20:30:00")),
            "dead_letter",
            not_a_trip,
        ),
        Kind("raw: unknown kind", "raw", _json(raw_event(n + 4, kind="teleport")), "dead_letter", not_a_trip),
        Kind("raw: lat is a string", "raw", _json(raw_event(n + 5, lat="40.7")), "dead_letter", not_a_trip),
        _raw(n + 6, "raw: event_id not a UUID", "event_id 'not-a-uuid' is not a UUID", event_id="not-a-uuid"),
        _raw(n + 7, "raw: event_id of 5,000 characters", "event_id ", event_id="e" * 5000),
        _raw(
            n + 8,
            "raw: year 2099",
            "event_time 2099-01-01T00:00:00+00:00 is outside the plausible range",
            event_time="2099-01-01T00:00:00Z",
        ),
        _raw(
            n + 9,
            "raw: year 2005",
            "event_time 2005-01-01T00:00:00+00:00 is outside the plausible range",
            event_time="2005-01-01T00:00:00Z",
        ),
        _raw(n + 10, "raw: station id NULL", "station id 'NULL' is a placeholder", station_id="NULL"),
        _raw(
            n + 11,
            "raw: station id of 5,000 characters",
            "station id is 5000 characters long (limit 32)",
            station_id="7" * 5000,
        ),
        _raw(
            n + 12, "raw: station id with markup", "station id '<script>' has characters outside", station_id="<script>"
        ),
        _raw(
            n + 13,
            "raw: NUL in station name",
            "station name has a control character U+0000",
            station_name="Broadway\x00& W 4 St",
        ),
        _raw(
            n + 14,
            "raw: escape character in station name",
            "station name has a control character U+001B",
            station_name="\x1b[31mred",
        ),
        _raw(
            n + 15,
            "raw: station name of 100 kB",
            "station name is 100000 characters long (limit 100)",
            station_name="n" * 100_000,
        ),
        _raw(
            n + 16,
            "raw: message of 900 kB",
            "station name is 900000 characters long (limit 100)",
            station_name="m" * 900_000,
        ),
        _raw(n + 17, "raw: latitude 91", "lat 91.0 is not a coordinate", lat=91.0),
        _raw(
            n + 18,
            "raw: unknown station outside the area",
            "station 'FARAWAY' is not in the station catalogue",
            station_id="FARAWAY",
            lat=51.5,
            lon=-0.12,
        ),
        _raw(n + 19, "raw: count 0", "count 0 is outside 1..10000", count=0),
        _raw(
            n + 20, "raw: bike id of 1,000 characters", "bike_id is 1000 characters long (limit 64)", bike_id="b" * 1000
        ),
        _raw(n + 21, "raw: no station id", "start event without a station id", station_id=None, kind="start"),
        _raw(n + 22, "raw: blank station id", "end event without a station id", station_id="   ", kind="end"),
        _raw(
            n + 23, "raw: source of 5,000 characters", "source is 5000 characters long (limit 1024)", source="s" * 5000
        ),
        Kind(
            "raw: markup in station name (kept as text)",
            "raw",
            _json(raw_event(n + 24, station_id="XSS1", station_name="<img src=x onerror=alert(1)>")),
            "clean",
            event_id=str(raw_event(n + 24)["event_id"]),
        ),
        Kind(
            "raw: time with +09:00 offset (honoured)",
            "raw",
            _json(raw_event(n + 25, event_time="2024-09-07T05:30:00+09:00")),
            "clean",
            event_id=str(raw_event(n + 25)["event_id"]),
        ),
        Kind(
            "raw: station id ' 72.0 ' (canonicalised)",
            "raw",
            _json(raw_event(n + 26, station_id=" 72.0 ", station_name="W 52 St & 11 Ave")),
            "clean",
            event_id=str(raw_event(n + 26)["event_id"]),
        ),
    ]


RAW_FRAME = [raw_event(500), raw_event(501, event_id="not-a-uuid"), raw_event(502)]
"""A frame (one record, a JSON array of events) whose middle event is bad: only it is dead-lettered."""
CLEAN_FRAME = [clean_event(510), clean_event(511, lat=None), clean_event(512)]
"""The same on the clean topic: only the middle event is quarantined (its frame_index is 1)."""


def clean_kinds() -> list[Kind]:
    n = 2000
    return [
        Kind(
            "clean: not JSON",
            "clean",
            b"\x00\x01 binary",
            "quarantine",
            "not a CleanEvent (unparseable JSON or no event_id)",
        ),
        Kind(
            "clean: broken frame (unterminated JSON array)",
            "clean",
            b'[{"event_id": "x"}, ',
            "quarantine",
            "not a CleanEvent (unparseable JSON or no event_id)",
        ),
        _clean(n, "clean: NUL byte in street", "street has a control character", street="Broadway\x00& W 4 St"),
        _clean(
            n + 1,
            "clean: station id of 5,000 characters",
            "station_id is longer than 32 characters",
            station_id="9" * 5000,
        ),
        _clean(n + 2, "clean: event_id not a UUID", "event_id is not a UUID", event_id="not-a-uuid"),
        _clean(n + 3, "clean: null event_time", "event_time is missing", event_time=None),
        _clean(n + 4, "clean: unparseable event_time", "event_time is not an ISO 8601 time", event_time="yesterday"),
        _clean(n + 5, "clean: null lat", "lat or lon is missing", lat=None),
        _clean(n + 6, "clean: longitude 1e300", "lon is not a longitude", lon=1e300),
        _clean(n + 7, "clean: unknown kind", "kind is not one of start, end, stock", kind="teleport"),
        _clean(n + 8, "clean: street of 101 characters", "street is longer than 100 characters", street="x" * 101),
        _clean(n + 9, "clean: null station id", "station_id is missing", station_id=None),
    ]
