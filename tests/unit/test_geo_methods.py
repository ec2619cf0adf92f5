"""Each geocoding method on hand-checked addresses with their true points (Wikipedia coordinates,
`data/reference/manhattan_test_addresses.csv`) or the catalogue's own station positions."""

from __future__ import annotations

import json
import math
import re
from functools import cache
from typing import Any

import pytest

from shared.geo import Geocoder, Rejection, Result
from shared.geo.frame import in_manhattan, to_grid
from shared.geo.gazetteer import CATALOGUE, Gazetteer, Place
from shared.geo.named import NamedStreets
from shared.geo.parse import Address, parse
from shared.geo.rules import WEST_HARLEM, WEST_HEIGHTS, WEST_UPPER, AvenueRule, crosstown_anchors


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine on a 6,371 km sphere (independent of the project's own distance)."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


@cache
def geocoder() -> Geocoder:
    return Geocoder()


@cache
def rules_only() -> Geocoder:
    """The geocoder without building points, so the house-number rules themselves answer (where the point
    table has buildings around a number, they answer first)."""
    g = Geocoder()
    g.named = NamedStreets({})
    return g


def stations() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(CATALOGUE.read_text())["data"]["stations"]
    return data


def found(text: str) -> Result:
    answer = geocoder().geocode(text)
    assert isinstance(answer, Result), answer
    return answer


@pytest.mark.parametrize(
    ("text", "true_point", "cross_street"),
    [
        ("350 5th Ave", (40.748333, -73.985556), "33.5"),  # Empire State Building: 350/20 + 16
        ("1000 Fifth Avenue", (40.779447, -73.963110), "82.0"),  # the Met: museum mile, 1000/10 - 18
        ("620 8th Ave", (40.756110, -73.990000), "40.0"),  # New York Times Building
        ("375 Park Ave", (40.758610, -73.972220), "52.75"),  # Seagram Building
        ("1697 Broadway", (40.763889, -73.982778), "53.85"),  # Ed Sullivan Theater: 1697/20 - 31
    ],
)
def test_avenue_key_number(text: str, true_point: tuple[float, float], cross_street: str) -> None:
    answer = rules_only().geocode(text)
    assert isinstance(answer, Result), answer
    assert answer.method == "avenue_key_number"
    assert float(answer.label.split("(at ")[1].split(" St")[0]) == pytest.approx(float(cross_street), abs=0.06)
    assert metres((answer.lat, answer.lon), true_point) < 160


@pytest.mark.parametrize(
    ("house", "street"),
    [
        (888, 888 / 20 + 12),  # 7th Avenue below Central Park: the downtown segment
        (1800, 110.0),  # Adam Clayton Powell Jr Blvd starts at 110th St: 1800 / 20 + 20 (not 1800 / 20 + 12 = 102)
        (1890, 1890 / 20 + 20),
    ],
)
def test_seventh_avenue_numbers_never_fall_inside_central_park(house: int, street: float) -> None:
    assert AvenueRule().cross_street("7th Avenue", house) == pytest.approx(street)


def test_which_avenue_line_a_west_side_street_counts_from() -> None:
    assert crosstown_anchors(109, "W") == WEST_UPPER  # from Central Park West
    assert crosstown_anchors(110, "W") == WEST_HARLEM  # Cathedral Parkway: from Fifth Avenue, as above it
    assert crosstown_anchors(155, "W") == WEST_HEIGHTS
    assert crosstown_anchors(192, "W") == WEST_HEIGHTS
    assert crosstown_anchors(193, "W") == WEST_HARLEM
    assert (500, "Pleasant Avenue") in crosstown_anchors(118, "E")


def test_washington_heights_numbers_stand_west_of_amsterdam_not_on_broadway() -> None:
    """W 177th St: 600 on the line 315 m west of Amsterdam Avenue, 700 at 510 m; Broadway is ~540 m west there."""
    g = rules_only()
    u = g.grid.street_u(177)
    amsterdam = g.grid.avenue_v("Amsterdam Avenue", u)
    assert amsterdam is not None
    for house, west_m in ((600, 315.0), (700, 510.0)):
        answer = g.geocode(f"{house} W 177th St")
        assert isinstance(answer, Result), answer
        assert answer.method == "crosstown_number"
        assert to_grid(answer.lat, answer.lon)[1] - amsterdam == pytest.approx(west_m, abs=1.0)


def test_one_park_avenue_is_the_documented_exception() -> None:
    answer = found("1 Park Avenue")
    assert "at 32.5 St" in answer.label  # not 34.05, as the key rule (+34) alone would say
    assert metres((answer.lat, answer.lon), (40.7461, -73.9816)) < 100


@pytest.mark.parametrize(
    ("text", "true_point"),
    [
        ("89 E 42nd St", (40.752778, -73.977222)),  # Grand Central Terminal: just west of Park Ave (100)
        ("1 W 72nd St", (40.776389, -73.976389)),  # The Dakota: Central Park West (Upper West Side rule)
        ("11 W 53rd St", (40.760592, -73.976172)),  # MoMA: just west of 5th Ave (New York magazine listing)
        ("151 W 34th St", (40.750833, -73.989444)),  # Macy's: between 6th (100) and 7th (200)
    ],
)
def test_crosstown_number(text: str, true_point: tuple[float, float]) -> None:
    answer = found(text)
    assert answer.method == "crosstown_number"
    assert metres((answer.lat, answer.lon), true_point) < 160


@pytest.mark.parametrize(
    ("text", "station_name"),
    [
        ("500 W 131st St", "Amsterdam Ave & W 131 St"),
        ("600 W 131st St", "Broadway & W 131 St"),
        ("500 W 136th St", "Amsterdam Ave & W 136 St"),
        ("600 W 138th St", "Broadway & W 138 St"),
        ("500 W 152nd St", "Amsterdam Ave & W 152 St"),
    ],
)
def test_harlem_numbers_count_out_to_amsterdam_and_broadway(text: str, station_name: str) -> None:
    """Above 110th St, 500 is at Amsterdam Avenue and 600 at Broadway (100 per avenue line from Fifth Avenue):
    the number lands on the corner station of that crossing."""
    station = next(s for s in stations() if s["name"] == station_name)
    parsed = parse(text)
    assert isinstance(parsed, Address)
    # The rule alone: where the building table knows neighbours, they answer first (test_geo_named.py).
    lat, lon = geocoder()._crosstown(parsed.number, parsed.street)
    assert metres((lat, lon), (station["lat"], station["lon"])) < 60


def test_known_buildings_around_the_number_beat_the_rule() -> None:
    """253 W 125th St (the Apollo, Wikipedia 40.81 N 73.95 W) lies between two NYC DOB buildings of the table
    (233 and 309 W 125th St): the line between them wins over the crosstown arithmetic."""
    answer = found("253 W 125th St")
    assert answer.method == "named_street"
    assert "between 233 and 309" in answer.label
    assert metres((answer.lat, answer.lon), (40.810000, -73.950000)) < 60


@pytest.mark.parametrize(
    ("text", "street"),
    [("2 St Nicholas Terrace", "St Nicholas Ter"), ("2 St Nicholas Place", "St Nicholas Pl")],
)
def test_a_terrace_or_place_is_not_the_avenue_of_the_same_name(text: str, street: str) -> None:
    answer = geocoder().geocode(text)
    said = answer.label if isinstance(answer, Result) else answer.error
    assert street in said  # its own street (placed or not), never "St. Nicholas Avenue does not run at 110 St"
    assert "Avenue" not in said


def test_ac_powell_boulevard_is_seventh_avenue() -> None:
    assert found("2453 AC Powell Blvd").label == found("2453 Adam Clayton Powell Jr Blvd").label


def test_loisaida_avenue_is_avenue_c() -> None:
    assert found("130 Loisaida Avenue").label == found("130 Avenue C").label


def test_station_name_is_the_catalogue_position() -> None:
    station = next(s for s in stations() if s["name"] == "W 52 St & 11 Ave")
    answer = found("W 52 St & 11 Ave")
    assert answer.method == "station_name"
    assert (answer.lat, answer.lon) == (station["lat"], station["lon"])


def test_gazetteer_crossing_written_another_way() -> None:
    station = next(s for s in stations() if s["name"] == "W 52 St & 11 Ave")
    answer = found("West 52nd Street and Eleventh Avenue, New York, NY")
    assert answer.method == "gazetteer_crossing"
    assert metres((answer.lat, answer.lon), (float(station["lat"]), float(station["lon"]))) < 1


def test_grid_crossing_places_held_out_stations() -> None:
    """Leave every 8th Manhattan avenue crossing out of the gazetteer; the fitted grid must still place them."""
    pattern = re.compile(r"^(\d+ Ave|Madison Ave|Park Ave|Lexington Ave) & ([EW]) (\d+) St$")
    matches = [(s, pattern.match(s["name"])) for s in stations()]
    crossings = [s for s, m in matches if m is not None and 20 <= int(m.group(3)) <= 100]
    held_out = sorted(crossings, key=lambda s: str(s["name"]))[::8]
    names = {s["name"] for s in held_out}
    places = [
        Place(str(s["name"]), float(s["lat"]), float(s["lon"]), in_manhattan(float(s["lat"]), float(s["lon"])))
        for s in stations()
        if s["name"] not in names
    ]
    partial = Geocoder(Gazetteer(places))
    errors = []
    for s in held_out:
        answer = partial.geocode(str(s["name"]))
        assert isinstance(answer, Result), answer
        assert answer.method in ("grid_crossing", "gazetteer_crossing")
        errors.append(metres((answer.lat, answer.lon), (float(s["lat"]), float(s["lon"]))))
    errors.sort()
    assert errors[len(errors) // 2] < 40  # median
    assert errors[-1] < 120


@pytest.mark.parametrize(
    ("text", "reason", "says"),
    [
        ("hello", "format", "Enter a building number and a street name, such as 1 Park Avenue"),
        ("285 Fulton Street", "not_found", "outside the house numbers known offline"),  # One WTC: no neighbours
        ("12 Smith Lane", "not_found", "no house numbers known offline"),
        ("5 Houston St", "not_found", "say East or West"),  # East and West Houston both have a number 5
        ("300 42nd St", "not_found", "East or West"),
        ("Smith St & Wesson Ave, Manhattan", "not_found", "do not cross"),
    ],
)
def test_rejections_say_why(text: str, reason: str, says: str) -> None:
    answer = geocoder().geocode(text)
    assert isinstance(answer, Rejection)
    assert answer.reason == reason
    assert says in answer.error


def test_a_crossing_without_borough_is_manhattans_unless_it_is_a_station_name() -> None:
    brooklyn = next(s for s in stations() if s["name"] == "53 St & 5 Ave")  # Sunset Park, Brooklyn
    assert found("53 St & 5 Ave").method == "station_name"  # the exact station name keeps its borough
    told = found("5 Ave & 53 St, Brooklyn")
    assert metres((told.lat, told.lon), (brooklyn["lat"], brooklyn["lon"])) < 1
    manhattan = found("5th Ave & 53rd St")
    assert manhattan.method == "grid_crossing"
    assert metres((manhattan.lat, manhattan.lon), (40.7605, -73.9758)) < 80  # 5th Ave at 53rd St, Midtown
    queens = found("45th Avenue and 21st Street")  # no Manhattan avenue of that name: the Queens station
    assert metres((queens.lat, queens.lon), (40.74737, -73.94777)) < 1
