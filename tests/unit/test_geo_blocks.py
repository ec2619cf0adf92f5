""" "Within 3 blocks" on Manhattan's grid and off it, and the station index against a naive scan."""

from __future__ import annotations

import json
import math
import random
from functools import cache

import pytest

from services.web.search_index import StationIndex
from shared.geo import BlockMetric, Geocoder, Result
from shared.geo.gazetteer import CATALOGUE


@cache
def metric() -> BlockMetric:
    return BlockMetric(Geocoder().grid)


@cache
def geocoder() -> Geocoder:
    return Geocoder()


def at(text: str) -> tuple[float, float]:
    answer = geocoder().geocode(text)
    assert isinstance(answer, Result), answer
    return answer.lat, answer.lon


def blocks(a: str, b: str) -> float:
    return metric().blocks(metric().point(*at(a)), metric().point(*at(b)))


def straight_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0]))
    return math.hypot(dx, (a[0] - b[0]) * 111_132)


def test_an_avenue_block_is_as_long_as_the_avenues_are_apart() -> None:
    # Park to 5th and 7th to 5th are both two avenue blocks, though one walk is nearly twice the other.
    east = blocks("Park Ave & E 40 St", "5 Ave & E 40 St")
    west = blocks("7 Ave & W 40 St", "5 Ave & W 40 St")
    assert east == pytest.approx(2.0, abs=0.15)
    assert west == pytest.approx(2.0, abs=0.15)
    assert straight_m(at("Park Ave & E 40 St"), at("5 Ave & E 40 St")) < 360
    assert straight_m(at("7 Ave & W 40 St"), at("5 Ave & W 40 St")) > 520


def test_street_blocks_along_an_avenue() -> None:
    assert blocks("5 Ave & E 40 St", "5 Ave & E 43 St") == pytest.approx(3.0, abs=0.3)
    assert blocks("1 Ave & E 60 St", "1 Ave & E 64 St") == pytest.approx(4.0, abs=0.4)


def test_blocks_add_up_along_the_grid() -> None:
    # Two streets up and one avenue over: 3 blocks, the walk a New Yorker means.
    assert blocks("Park Ave & E 40 St", "Lexington Ave & E 42 St") == pytest.approx(3.0, abs=0.3)


def test_off_the_grid_it_is_a_straight_line_of_250_m_for_3_blocks() -> None:
    m = metric()
    # Downtown Brooklyn: north by 240 m and 260 m (1 degree of latitude = 111,132 m).
    base = m.point(40.6900, -73.9850)
    near = m.point(40.6900 + 240 / 111_132, -73.9850)
    far = m.point(40.6900 + 260 / 111_132, -73.9850)
    assert not base.on_grid
    assert m.blocks(base, near) == pytest.approx(240 / (250 / 3), abs=0.01)
    assert m.blocks(base, near) <= 3 < m.blocks(base, far)


def test_below_14th_street_is_off_the_grid() -> None:
    assert not metric().point(*at("E 4 St & Ave B")).on_grid
    assert metric().point(*at("1 Park Avenue")).on_grid


def test_index_finds_exactly_what_a_naive_scan_finds() -> None:
    """Every station of the catalogue with random bikes; 80 random points all over the city."""
    rng = random.Random(3)
    stations = [
        {
            "station_id": s["short_name"],
            "name": s["name"],
            "lat": s["lat"],
            "lon": s["lon"],
            "bikes": rng.choice([0, 1, 4]),
        }
        for s in json.loads(CATALOGUE.read_text())["data"]["stations"]
    ]
    index = StationIndex(metric())
    index.replace_all(stations)
    points = [metric().point(*at(t)) for t in ("1 Park Avenue", "350 5th Ave", "W 52 St & 11 Ave")]
    points += [metric().point(rng.uniform(40.65, 40.85), rng.uniform(-74.03, -73.90)) for _ in range(80)]
    for point in points:
        everything = [(metric().blocks(point, metric().point(s["lat"], s["lon"])), s) for s in stations]
        for radius in (1.0, 3.0, 5.0):
            naive = {s["station_id"] for d, s in everything if s["bikes"] > 0 and d <= radius}
            assert {h.station["station_id"] for h in index.within(point, radius)} == naive
        walks = sorted(
            metric().walking_m(point, metric().point(s["lat"], s["lon"])) for s in stations if s["bikes"] > 0
        )
        assert [round(h.walking_m, 6) for h in index.nearest(point, k=3)] == [round(w, 6) for w in walks[:3]]
