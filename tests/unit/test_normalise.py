"""services.enricher.normalise and stations: canonical ids, the real GBFS catalogue, rejections.

Catalogue coordinates are looked up here in the snapshot JSON with the `json` module; payloads are
hand-written JSON, not built with the code under test.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.enricher.normalise import Rejection, normalise
from services.enricher.stations import StationCatalogue, canonical_station_id
from services.producer.trip_rows import split_rows
from shared.events import CleanEvent, EventKind, TripEvent, encode

REPO = Path(__file__).resolve().parents[2]
GBFS_FILE = REPO / "data" / "stations" / "station_information.json"
COCTEAU_FILE = REPO.parent / "shared" / "data" / "cocteau__Data24" / "data" / "citibike.csv"
EVENT_ID = "0b5c1c0e-5a1f-5d43-9a8e-1d2b3c4d5e6f"


@pytest.fixture(scope="module")
def catalogue() -> StationCatalogue:
    return StationCatalogue.from_gbfs(GBFS_FILE)


@pytest.fixture(scope="module")
def gbfs() -> dict[str, dict[str, Any]]:
    """The snapshot's stations by short_name, read here without the code under test."""
    stations: list[dict[str, Any]] = json.loads(GBFS_FILE.read_text())["data"]["stations"]
    return {s["short_name"]: s for s in stations}


def payload(**overrides: object) -> bytes:
    event: dict[str, object] = {
        "event_id": EVENT_ID,
        "trip_id": "FD772ADA8A3B2363",
        "kind": "start",
        "event_time": "2024-09-06T20:30:38.511Z",
        "station_id": "6170.02",
        "station_name": "Vernon Blvd & 50 Ave",
        "lat": 40.7425,  # a rider's GPS fix, a few metres from the dock
        "lon": -73.9540,
        "bike_id": None,
        "rideable_type": "electric_bike",
        "source": "s3://b/k#2",
    }
    event.update(overrides)
    return json.dumps(event).encode()


def clean(result: CleanEvent | Rejection) -> CleanEvent:
    assert isinstance(result, CleanEvent), result
    return result


def rejected(result: CleanEvent | Rejection) -> Rejection:
    assert isinstance(result, Rejection), result
    return result


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (" 72 ", "72"),
        ("72.0", "72"),
        ("72.00", "72"),
        ("6569.09_", "6569.09"),
        ("6170.02", "6170.02"),
        ("JC105", "JC105"),
        ("HB101", "HB101"),
        ("\t3183\n", "3183"),
    ],
)
def test_canonical_station_id(raw: str, canonical: str) -> None:
    assert canonical_station_id(raw) == canonical


def test_one_station_written_two_ways_gets_one_canonical_id(
    gbfs: dict[str, dict[str, Any]], catalogue: StationCatalogue
) -> None:
    # The real 2024-09 trips name one dock both "5359.1" and "5359.10" (a float rendering drops the zero);
    # the GBFS snapshot knows it as "5359.10". Both spellings must become the same canonical id.
    names_by_id: dict[str, set[str]] = defaultdict(set)
    with COCTEAU_FILE.open(newline="") as fh:
        for row in csv.DictReader(fh):
            for side in ("start", "end"):
                names_by_id[row[f"{side}_station_id"]].add(row[f"{side}_station_name"])
    pairs = [
        (short, short + "0") for short in names_by_id if re.fullmatch(r"\d+\.\d", short) and short + "0" in names_by_id
    ]
    assert ("5359.1", "5359.10") in pairs
    assert gbfs["5359.10"]["name"] == "Hudson St & Reade St"
    assert names_by_id["5359.1"] == {"Hudson St & Reade St"}
    assert all(names_by_id[short] == names_by_id[padded] for short, padded in pairs)  # the same docks

    def canonical(raw: str) -> str | None:
        found = catalogue.resolve(raw)
        return None if found is None else found.station_id

    split = [(short, padded) for short, padded in pairs if canonical(short) != canonical(padded)]
    assert split == []


def test_catalogue_holds_every_snapshot_station(catalogue: StationCatalogue, gbfs: dict[str, dict[str, Any]]) -> None:
    assert len(catalogue) == len(gbfs) == 2226


def test_known_station_gets_catalogue_coordinates(catalogue: StationCatalogue, gbfs: dict[str, dict[str, Any]]) -> None:
    station = gbfs["6170.02"]
    assert station["name"] == "Vernon Blvd & 50 Ave"
    assert (station["lat"], station["lon"]) == (40.74232744, -73.95411749)
    event = clean(normalise(payload(), catalogue))
    assert (event.station_id, event.lat, event.lon) == ("6170.02", station["lat"], station["lon"])
    assert event.street == "Vernon Blvd & 50 Ave"


def test_known_station_is_found_after_canonicalising_its_id(
    catalogue: StationCatalogue, gbfs: dict[str, dict[str, Any]]
) -> None:
    station = gbfs["6569.09"]
    event = clean(
        normalise(payload(station_id=" 6569.09_", station_name="W 35 St & 9 Ave", lat=None, lon=None), catalogue)
    )
    assert (event.station_id, event.lat, event.lon) == ("6569.09", station["lat"], station["lon"])


def test_station_with_unknown_id_is_found_by_name(catalogue: StationCatalogue, gbfs: dict[str, dict[str, Any]]) -> None:
    station = gbfs["7360.10"]
    event = clean(
        normalise(payload(station_id="7360.1", station_name="Amsterdam  Ave & W 82 St ", lat=None, lon=None), catalogue)
    )
    assert (event.lat, event.lon) == (station["lat"], station["lon"])
    assert event.street == "Amsterdam Ave & W 82 St"


def test_unknown_station_inside_the_area_keeps_its_own_coordinates(
    catalogue: StationCatalogue, gbfs: dict[str, dict[str, Any]]
) -> None:
    name = "Nowhere Pl & Imaginary Ave"
    assert "99999.99" not in gbfs
    assert name.lower() not in {s["name"].lower() for s in gbfs.values()}
    event = clean(normalise(payload(station_id="99999.99", station_name=name, lat=40.7001, lon=-73.9902), catalogue))
    assert (event.station_id, event.street, event.lat, event.lon) == ("99999.99", name, 40.7001, -73.9902)


def test_legacy_integer_id_is_canonical_and_keeps_its_own_coordinates(catalogue: StationCatalogue) -> None:
    event = clean(
        normalise(
            payload(station_id="3183.0", station_name="Exchange Place X", lat=40.7162469, lon=-74.0334588), catalogue
        )
    )
    assert (event.station_id, event.lat, event.lon) == ("3183", 40.7162469, -74.0334588)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (None, None),
        (40.7, None),
        (None, -74.0),
        (42.3601, -71.0589),  # Boston
        (40.7, -75.0),  # west of the box
        (0.5, -74.0),
    ],
)
def test_unknown_station_without_usable_coordinates_is_rejected(
    catalogue: StationCatalogue, lat: float | None, lon: float | None
) -> None:
    result = rejected(
        normalise(
            payload(station_id="99999.99 ", station_name="Nowhere Pl & Imaginary Ave", lat=lat, lon=lon), catalogue
        )
    )
    assert "'99999.99'" in result.reason
    assert result.event_id == EVENT_ID


@pytest.mark.parametrize(("kind", "station_id"), [("start", None), ("end", None), ("end", "")])
def test_event_without_station_id_is_rejected_naming_its_kind(
    catalogue: StationCatalogue, kind: str, station_id: str | None
) -> None:
    result = rejected(normalise(payload(kind=kind, station_id=station_id), catalogue))
    assert result.reason.startswith(f"{kind} event")
    assert "station id" in result.reason
    assert result.event_id == EVENT_ID


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        json.dumps({"hello": "world"}).encode(),
        payload(event_time="2024-09-06T16:30:38"),  # naive time
        payload(kind="middle"),
        payload(extra="field"),
    ],
)
def test_anything_else_is_rejected_as_not_a_trip_event(catalogue: StationCatalogue, body: bytes) -> None:
    result = rejected(normalise(body, catalogue))
    assert result.reason.startswith("not a TripEvent")
    assert result.event_id is None


def test_clean_event_keeps_the_identity_of_the_trip_event(catalogue: StationCatalogue) -> None:
    event = clean(normalise(payload(kind="end", bike_id="31956", trip_id="bike:31956@x"), catalogue))
    assert event.event_id == EVENT_ID
    assert event.trip_id == "bike:31956@x"
    assert event.kind is EventKind.END
    assert event.event_time == datetime(2024, 9, 6, 20, 30, 38, 511_000, tzinfo=UTC)
    assert (event.bike_id, event.rideable_type, event.source) == ("31956", "electric_bike", "s3://b/k#2")


def test_real_file_is_rejected_only_where_a_station_id_is_empty(catalogue: StationCatalogue) -> None:
    with COCTEAU_FILE.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    empty = sum(row[f"{side}_station_id"] == "" for row in rows for side in ("start", "end"))
    assert empty == 46  # SOURCES.md: 10 empty start and 36 empty end station ids
    with COCTEAU_FILE.open(newline="") as fh:
        events = [e for e in split_rows(iter(csv.reader(fh)), "s3://b/k") if isinstance(e, TripEvent)]
    results = [normalise(encode(e), catalogue) for e in events]
    rejections = [r for r in results if isinstance(r, Rejection)]
    assert len(rejections) == empty
    assert all("without a station id" in r.reason for r in rejections)
    assert len(results) - len(rejections) == 2 * len(rows) - empty


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event_id": "not-a-uuid"}, "event_id 'not-a-uuid' is not a UUID"),
        ({"event_time": "2099-01-01T00:00:00Z"}, "event_time 2099-01-01T00:00:00+00:00 is outside the plausible range"),
        ({"event_time": "2005-01-01T00:00:00Z"}, "event_time 2005-01-01T00:00:00+00:00 is outside the plausible range"),
        ({"station_id": "NULL"}, "station id 'NULL' is a placeholder for a missing value"),
        ({"station_id": "7" * 33}, "station id is 33 characters long (limit 32)"),
        ({"station_id": "<b>"}, "station id '<b>' has characters outside [A-Za-z0-9 ._-]"),
        ({"station_name": "A\x00B"}, "station name has a control character U+0000 at position 1"),
        ({"station_name": "n" * 101}, "station name is 101 characters long (limit 100)"),
        ({"lat": 91.0}, "lat 91.0 is not a coordinate (-90.0..90.0)"),
        ({"count": 0}, "count 0 is outside 1..10000"),
        ({"bike_id": "b" * 65}, "bike_id is 65 characters long (limit 64)"),
    ],
)
def test_limits_are_enforced_with_a_reason_naming_the_field(
    catalogue: StationCatalogue, changes: dict[str, object], reason: str
) -> None:
    result = rejected(normalise(payload(**changes), catalogue))
    assert result.reason.startswith(reason)  # a time's reason goes on with the range it is outside
    # Only a valid UUID travels on as the dead letter's event id.
    assert result.event_id == (None if "event_id" in changes else EVENT_ID)


def test_a_time_with_an_offset_is_the_same_instant_in_utc(catalogue: StationCatalogue) -> None:
    event = clean(normalise(payload(event_time="2024-09-07T05:30:38.511+09:00"), catalogue))
    assert event.event_time == datetime(2024, 9, 6, 20, 30, 38, 511000, tzinfo=UTC)
