"""shared.gbfs.read_station_information: GBFS 1.1 (the bundled Citi Bike snapshot), 2.3 and 3.0 shapes,
Citi Bike's schema-unclean values, discovery files, and sources that cannot be used (named, with why).

Expected values are read from the same files with plain json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.gbfs import GbfsError, GbfsStation, read_station_information

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "data" / "stations" / "station_information.json"


def write(tmp_path: Path, doc: Any, name: str = "station_information.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_reads_the_bundled_gbfs_1_1_snapshot() -> None:
    raw = json.loads(SNAPSHOT.read_text())["data"]["stations"]
    stations = read_station_information(SNAPSHOT)
    assert len(stations) == len(raw) == 2226
    assert [(s.station_id, s.canonical_id, s.name, s.lat, s.lon, s.capacity, s.region_id) for s in stations] == [
        (r["station_id"], r["short_name"], r["name"], r["lat"], r["lon"], r["capacity"], r.get("region_id"))
        for r in raw
    ]


def test_reads_gbfs_3_localized_names_and_short_names(tmp_path: Path) -> None:
    doc = {
        "last_updated": "2024-09-10T12:00:00+00:00",
        "ttl": 5,
        "version": "3.0",
        "data": {
            "stations": [
                {
                    "station_id": "6926.01",
                    "name": [{"text": "Nom", "language": "fr"}, {"text": "W 52 St & 11 Ave", "language": "en"}],
                    "short_name": [{"text": "6926.01", "language": "en"}],
                    "lat": 40.767,
                    "lon": -73.993,
                    "capacity": 39,
                    "region_id": "71",
                }
            ]
        },
    }
    (station,) = read_station_information(write(tmp_path, doc))
    assert station == GbfsStation("6926.01", "6926.01", "W 52 St & 11 Ave", 40.767, -73.993, 39, "71")


def test_citi_bikes_unclean_values_are_read_leniently(tmp_path: Path) -> None:
    # No version, integer ids and region ids, numbers as strings, upper-case rental methods.
    doc = {
        "last_updated": 1562342014,
        "ttl": 10,
        "data": {
            "stations": [
                {"station_id": 72, "name": " W 52 St ", "lat": "40.767", "lon": -73.993, "capacity": "39",
                 "region_id": 71, "rental_methods": ["KEY", "CREDITCARD"]},
                {"station_id": "79", "name": "Franklin St", "lat": 40.719, "lon": -74.006, "capacity": -3},
                {"station_id": "82", "name": "St James Pl", "lat": 40.711, "lon": -73.999, "capacity": 27.5},
                {"station_id": "83", "lat": 40.683, "lon": -73.976},
            ]
        },
    }  # fmt: skip
    stations = read_station_information(write(tmp_path, doc))
    assert [(s.station_id, s.name, s.lat, s.capacity, s.region_id) for s in stations] == [
        ("72", "W 52 St", 40.767, 39, "71"),
        ("79", "Franklin St", 40.719, None, None),  # a negative capacity is unknown, not a number
        ("82", "St James Pl", 40.711, None, None),  # so is a fractional one
        ("83", "83", 40.683, None, None),  # no name: the id stands in
    ]
    assert stations[0].canonical_id == "72"  # no short_name: the station_id is the id


@pytest.mark.parametrize("layout", ["2.3", "3.0"])
def test_a_discovery_file_leads_to_its_station_information(tmp_path: Path, layout: str) -> None:
    info = write(tmp_path, {"data": {"stations": [{"station_id": "a", "name": "A", "lat": 1, "lon": 2}]}})
    feeds = [{"name": "system_information", "url": "x"}, {"name": "station_information", "url": str(info)}]
    data = {"en": {"feeds": feeds}} if layout == "2.3" else {"feeds": feeds}
    discovery = write(tmp_path, {"version": layout, "data": data}, "gbfs.json")
    assert [s.station_id for s in read_station_information(discovery)] == ["a"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot be read"),
        (b"\x89PNG not json", "not JSON"),
        (b'{"data": {"bikes": []}}', "neither a station_information"),
        (b'{"stations": []}', "no data.stations"),
        (b'{"data": {"stations": [{"name": "no id", "lat": 1, "lon": 2}]}}', "station #0 has no station_id"),
        (b'{"data": {"stations": [{"station_id": "s", "lat": 91, "lon": 2}]}}', "station 's' has no valid lat/lon"),
        (b'{"data": {"stations": [{"station_id": "s", "lat": "NaN", "lon": 2}]}}', "station 's' has no valid lat/lon"),
        (b'{"data": {"stations": ["s"]}}', "station #0 is not an object"),
    ],
)
def test_an_unusable_source_raises_naming_the_path_and_the_reason(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "capacity.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(GbfsError) as caught:
        read_station_information(path)
    assert str(path) in str(caught.value)
    assert reason in str(caught.value)


def test_an_unreachable_url_raises_naming_it() -> None:
    url = "http://127.0.0.1:9/gbfs/2.3/station_information.json"  # the discard port: nothing listens
    with pytest.raises(GbfsError, match=r"http://127\.0\.0\.1:9/gbfs/2\.3/station_information\.json: cannot be read"):
        read_station_information(url, timeout_s=2)
