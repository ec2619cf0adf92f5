"""services.web.gbfs_feed, pure: the feed's rules for the cases the fixture data does not show
(unknown capacity, negative counts, stations only trip files know, data without e-bikes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.web.gbfs_feed import System, document, feed_names
from services.web.stations import StationRow

MOMENT = datetime(2024, 9, 10, 12, 0, tzinfo=UTC)
SYSTEM = System("test", "Test", "feed@example.org", 5)


def row(station_id: str, bikes: int, ebikes: int = 0, capacity: int | None = 10, in_service: bool = True) -> StationRow:
    docks = None if capacity is None else max(capacity - bikes, 0)
    over = capacity is not None and bikes > capacity
    return StationRow(
        station_id, station_id, 40.7, -74.0, bikes, ebikes, capacity, docks, over, MOMENT, 1, None, in_service
    )


def status(version: str, rows: list[StationRow]) -> dict[str, dict[str, Any]]:
    doc = document(version, "station_status", rows, MOMENT, SYSTEM, "http://x/")
    assert doc is not None
    data: dict[str, Any] = doc["data"]  # type: ignore[assignment]
    return {s["station_id"]: s for s in data["stations"]}


@pytest.mark.parametrize("version", ["2.3", "3.0"])
def test_counts_are_clamped_and_unknown_capacity_has_no_dock_count(version: str) -> None:
    key = "num_bikes_available" if version == "2.3" else "num_vehicles_available"
    found = status(version, [row("neg", -3), row("over", 14, ebikes=20), row("unknown", 7, capacity=None)])
    assert (found["neg"][key], found["neg"]["num_docks_available"]) == (0, 10)
    assert (found["over"][key], found["over"]["num_docks_available"]) == (10, 0)
    assert {t["vehicle_type_id"]: t["count"] for t in found["over"]["vehicle_types_available"]} == {
        "classic": 0,
        "ebike": 10,
    }
    assert found["unknown"][key] == 7
    assert "num_docks_available" not in found["unknown"]


def test_a_station_outside_the_catalogue_is_not_installed_renting_or_returning() -> None:
    found = status("2.3", [row("known", 3), row("retired", 3, in_service=False)])
    assert [found["known"][f] for f in ("is_installed", "is_renting", "is_returning")] == [True, True, True]
    assert [found["retired"][f] for f in ("is_installed", "is_renting", "is_returning")] == [False, False, False]


def test_without_e_bikes_there_are_no_vehicle_types() -> None:
    rows = [row("a", 3), row("b", 0)]
    assert feed_names(rows) == ["system_information", "station_information", "station_status"]
    assert document("2.3", "vehicle_types", rows, MOMENT, SYSTEM, "http://x/") is None
    assert all("vehicle_types_available" not in s for s in status("2.3", rows).values())
    assert "vehicle_types" in feed_names([*rows, row("c", 2, ebikes=1)])


def test_unknown_files_and_versions_have_no_document() -> None:
    assert document("2.3", "free_bike_status", [], MOMENT, SYSTEM, "http://x/") is None
    assert document("1.1", "gbfs", [], MOMENT, SYSTEM, "http://x/") is None
