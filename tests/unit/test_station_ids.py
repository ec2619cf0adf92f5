"""One station, one id: trip-file station ids mapped to the real GBFS catalogue (services.enricher.stations).

The catalogue is read here with `json` to state what it holds; the mapping is the module's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.enricher.normalise import Rejection, normalise
from services.enricher.stations import POSITION_MATCH_M, StationCatalogue, distance_m
from shared.events import EventKind, TripEvent, encode, event_id
from shared.gbfs import GbfsStation
from tests.unit.test_normalise import GBFS_FILE


@pytest.fixture(scope="module")
def catalogue() -> StationCatalogue:
    return StationCatalogue.from_gbfs(GBFS_FILE)


@pytest.fixture(scope="module")
def by_short_name() -> dict[str, dict[str, Any]]:
    return {s["short_name"]: s for s in json.loads(GBFS_FILE.read_text())["data"]["stations"]}


def resolved(catalogue: StationCatalogue, *args: Any) -> str | None:
    found = catalogue.resolve(*args)
    return None if found is None else found.station_id


@pytest.mark.parametrize("real", ["3593.1", "6131.1", "3576.1"])
def test_real_short_names_with_one_decimal_are_never_renamed(
    catalogue: StationCatalogue, by_short_name: dict[str, dict[str, Any]], real: str
) -> None:
    assert real in by_short_name
    assert resolved(catalogue, real) == real
    assert resolved(catalogue, f" {real}_") == real


def test_a_short_name_that_lost_its_zero_is_the_padded_one(
    catalogue: StationCatalogue, by_short_name: dict[str, dict[str, Any]]
) -> None:
    assert "5359.1" not in by_short_name
    assert resolved(catalogue, "5359.1") == "5359.10"


def test_a_legacy_station_is_found_by_name_near_its_position(catalogue: StationCatalogue) -> None:
    # 2018: station 72 "W 52 St & 11 Ave"; the 2024 catalogue has it as 6926.01 at the same corner.
    assert resolved(catalogue, "72", "W 52 St & 11 Ave", 40.76727216, -73.99392888) == "6926.01"
    # the same name far away is another station
    assert resolved(catalogue, "72", "W 52 St & 11 Ave", 40.70, -73.95) is None


def test_a_renamed_legacy_station_is_found_by_position(
    catalogue: StationCatalogue, by_short_name: dict[str, dict[str, Any]]
) -> None:
    # 2018: 3224 "W 13 St & Hudson St"; 2024: 6115.06 "Hudson St & W 13 St", 15 m away.
    target = by_short_name["6115.06"]
    assert target["name"] == "Hudson St & W 13 St"
    lat, lon = 40.73997354103409, -74.00513872504234
    assert distance_m(lat, lon, target["lat"], target["lon"]) < POSITION_MATCH_M
    assert resolved(catalogue, "3224", "W 13 St & Hudson St", lat, lon) == "6115.06"


def test_a_station_nothing_matches_keeps_its_id(catalogue: StationCatalogue) -> None:
    assert resolved(catalogue, "3183", "Exchange Place", 40.7162469, -74.0334588) is None


def test_a_legacy_id_in_the_catalogue_maps_to_its_short_name() -> None:
    catalogue = StationCatalogue.from_entries(
        [GbfsStation("72", "6926.01", "W 52 St & 11 Ave", 40.767, -73.994, 55, "71")]
    )
    assert resolved(catalogue, "72") == "6926.01"
    assert resolved(catalogue, "72.0") == "6926.01"


def test_zero_coordinates_are_named_in_the_dead_letter(catalogue: StationCatalogue) -> None:
    event = TripEvent(
        event_id=event_id("t", EventKind.END),
        trip_id="t",
        kind=EventKind.END,
        event_time=datetime(2018, 1, 1, tzinfo=UTC),
        station_id="99999",
        station_name="Nowhere",
        lat=0.0,
        lon=0.0,
        source="s3://b/k#2",
    )
    result = normalise(encode(event), catalogue)
    assert isinstance(result, Rejection)
    assert "(0.0, 0.0)" in result.reason
