"""House numbers placed between known points of the same street (named streets, and any street uptown).

The Commissioners' grid has arithmetic (`rules.py`); Wall Street, Lower Broadway, the Bowery and the
Village do not, and uptown the arithmetic is rough. The geocoder knows points of streets with a house number:

* `data/reference/manhattan_address_points.csv`: NYC Department of Buildings points (BIN, latitude,
  longitude, address) of real buildings, ~1,700 below 14th Street and ~700 from Morningside Heights to
  Inwood on every kind of street;
* `data/reference/manhattan_named_street_anchors.csv`: sourced "number N of street S stands between
  the crossings with A and B" facts, placed midway between the crossings' stations in the catalogue
  (Rockefeller Plaza, whose numbers run north from 48th Street).

A house number is placed

* on the building itself when the table has that number (`address_point`);
* else on the straight line between the two nearest known numbers, preferring the same side (odd or
  even), when they are at most `MAX_GAP` numbers and `MAX_SPAN_M` apart (`named_street`); these two
  answer before the rules (`building_or_between`), the rest only where no rule does:
* on the nearest known number when it is within `NEAR` numbers;
* past the first or last known number, along the street's own direction, for at most `EXTRA` numbers
  and `EXTRA_M` metres (`named_street`, with a wider precision);
* on a plaza whose numbers name buildings rather than positions along a line (`Penn Plaza`), at the
  middle of the plaza's known buildings (`named_place`).

Rows whose point is shared by three or more addresses, or by addresses on different streets, are dropped
on loading: those are the centroids of housing projects and campuses, not of one building.
`bench`-free measure of all this: `tests/unit/test_geo_named.py` places every known point from the
others (leave-one-out) and checks the precision figures below against the errors it sees.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from shared.geo.frame import metres
from shared.geo.gazetteer import Gazetteer
from shared.geo.rules import REFERENCE, NoRule
from shared.geo.streets import Street, normalise

POINTS = REFERENCE / "manhattan_address_points.csv"
ANCHORS = REFERENCE / "manhattan_named_street_anchors.csv"
MAX_GAP = 200  # numbers between the two neighbours: beyond that the line is too long to trust
MAX_SPAN_M = 900.0  # a chord longer than this on a bending street (Broadway, Bowery) strays too far
NEAR = 10  # a number this close to a known one (and no pair around it) takes that building's point
EXTRA = 60  # numbers past the first/last known one that may be extrapolated
EXTRA_M = 250.0  # and at most this far from it
PRECISION_M = {"address_point": 25.0, "between": 60.0, "near": 80.0, "beyond": 120.0, "named_place": 150.0}
_HOUSE = re.compile(r"^(\d{1,5})\s+(\D.*|\d{1,3}(?:ST|ND|RD|TH)?\s+(?:AVE|AVENUE|AV|ST|STREET)\b.*)$", re.IGNORECASE)
# Spellings that differ between the source and riders; applied word by word to the canonical key.
_KEY_WORDS = {"center": "centre", "saint": "st", "pennsylvania": "penn", "square": "sq", "place": "pl",
              "street": "st", "plaza": "plz", "south": "s", "north": "n", "east": "e", "west": "w",
              "lane": "ln"}  # fmt: skip
_JOINED = {"mac dougal": "macdougal", "la guardia": "laguardia"}


def street_key(street: Street) -> str:
    """One key for a street however it is spelled ("Washington Square South" = "Washington Sq S")."""
    text = street.key.lower()
    for apart, joined in _JOINED.items():
        text = text.replace(apart, joined)
    return " ".join(_KEY_WORDS.get(word, word) for word in text.split())


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class Found:
    lat: float
    lon: float
    method: str  # address_point | named_street | named_place
    precision_m: float
    label: str


Table = dict[str, dict[int, Point]]


def load_points(path: Path = POINTS) -> Table:
    """street key -> house number -> point (the mean where one number has several buildings)."""
    rows: list[tuple[str, int, float, float]] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            match = _HOUSE.match(" ".join(row["address"].split()))
            if match is None or re.search(r"\b(?:REAR|FRONT)\b|/", match.group(2)):
                continue
            street = normalise(match.group(2))
            if street is not None:
                rows.append((street_key(street), int(match.group(1)), float(row["lat"]), float(row["lon"])))
    sharing: dict[tuple[float, float], set[tuple[str, int]]] = defaultdict(set)
    for key, number, lat, lon in rows:
        sharing[(lat, lon)].add((key, number))
    grouped: dict[str, dict[int, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for key, number, lat, lon in rows:
        users = sharing[(lat, lon)]
        if len(users) < 3 and len({k for k, _ in users}) == 1:
            grouped[key][number].append((lat, lon))
    return {
        key: {n: Point(sum(p[0] for p in ps) / len(ps), sum(p[1] for p in ps) / len(ps)) for n, ps in nums.items()}
        for key, nums in grouped.items()
    }


def _crossing(gazetteer: Gazetteer, street: Street, cross: Street) -> Point | None:
    """Where `street` meets `cross`: the Manhattan stations named after that crossing, or, for a numbered
    cross street without a station, the point that far between the street's stations at two other
    numbered streets (the grid's streets are evenly spaced: ~80 m)."""
    places = [p for p in gazetteer.crossing(street, cross) if p.manhattan]
    if places:
        return Point(sum(p.lat for p in places) / len(places), sum(p.lon for p in places) / len(places))
    if cross.number is None:
        return None
    known: dict[int, Point] = {}
    for c in gazetteer.crossings:
        for one, other in ((c.first, c.second), (c.second, c.first)):
            if one == street and other.number is not None and c.place.manhattan:
                known.setdefault(other.number, Point(c.place.lat, c.place.lon))
    below = max((n for n in known if n < cross.number), default=None)
    above = min((n for n in known if n > cross.number), default=None)
    if below is None or above is None or above - below > 4:
        return None
    t = (cross.number - below) / (above - below)
    a, b = known[below], known[above]
    return Point(a.lat + (b.lat - a.lat) * t, a.lon + (b.lon - a.lon) * t)


def load_anchors(gazetteer: Gazetteer, path: Path = ANCHORS) -> Table:
    """Sourced "number N stands on S between the crossings with A and B" rows (B empty: at A), placed
    midway between the crossings. A row that cannot be placed is an error, not a silent gap."""
    table: Table = defaultdict(dict)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            street = normalise(row["street"])
            ends = [normalise(row[c]) for c in ("from_street", "to_street") if row[c].strip()]
            if street is None or not ends or None in ends:
                raise ValueError(f"{path.name}: cannot read the street names of {row}")
            points = [_crossing(gazetteer, street, end) for end in ends if end is not None]
            if any(p is None for p in points):
                where = f"{row['street']} & {row['from_street']}/{row['to_street']}"
                raise ValueError(f"{path.name}: {where} is not known offline; fix or remove the row")
            placed = [p for p in points if p is not None]
            lat, lon = sum(p.lat for p in placed) / len(placed), sum(p.lon for p in placed) / len(placed)
            table[street_key(street)][int(row["house"])] = Point(lat, lon)
    return dict(table)


class NamedStreets:
    def __init__(self, table: Table, lines: frozenset[str] = frozenset()) -> None:
        self._table = table
        self._lines = lines  # plazas whose numbers run along a line (Rockefeller Plaza), not building names

    @classmethod
    def from_reference(cls, gazetteer: Gazetteer) -> NamedStreets:
        table = load_points()
        anchors = load_anchors(gazetteer)
        for key, numbers in anchors.items():
            table.setdefault(key, {}).update({n: p for n, p in numbers.items() if n not in table.get(key, {})})
        return cls(table, frozenset(anchors))

    @property
    def table(self) -> Table:
        return self._table

    def streets(self) -> dict[str, list[int]]:
        return {key: sorted(numbers) for key, numbers in self._table.items()}

    def without(self, key: str, number: int) -> NamedStreets:
        """The same table less one point (leave-one-out measurements)."""
        table = dict(self._table)
        table[key] = {n: p for n, p in table[key].items() if n != number}
        return NamedStreets(table, self._lines)

    def building_or_between(self, house: int, street: Street) -> Found | None:
        """The building itself, or the line between two known numbers of the street around it (same limits as
        `locate`), else None. Where the table has such neighbours they beat the house-number arithmetic:
        measured leave-one-out on the DOB points of Harlem and Washington Heights, interpolation is median
        ~25 m off against ~60 m for the key-number and crosstown rules, and it holds where the rules break
        (Broadway above ~190th St, whose key number is 450-560 m off; the streets west of Broadway)."""
        numbers = self._table.get(street_key(street))
        if not numbers or (street_key(street).endswith(" plz") and street_key(street) not in self._lines):
            return None
        if house in numbers:
            p = numbers[house]
            label = f"{house} {street} (NYC building point)"
            return Found(p.lat, p.lon, "address_point", PRECISION_M["address_point"], label)
        return _between(house, street, numbers)

    def locate(self, house: int, street: Street) -> Found:
        """The point of `house` on `street`, or NoRule saying why the table cannot place it."""
        key = street_key(street)
        numbers = self._table.get(key)
        if not numbers:
            if any(f"{side} {key}" in self._table for side in ("e", "w")):
                raise NoRule(f"say East or West: {street} has numbers on both sides (E {street}, W {street})")
            raise NoRule(
                f"{street} has no house numbers known offline; "
                f"enter {street} and a cross street instead, such as W 52 St & 11 Ave"
            )
        if house in numbers:
            p = numbers[house]
            label = f"{house} {street} (NYC building point)"
            return Found(p.lat, p.lon, "address_point", PRECISION_M["address_point"], label)
        if key.endswith(" plz") and key not in self._lines:
            lat = sum(p.lat for p in numbers.values()) / len(numbers)
            lon = sum(p.lon for p in numbers.values()) / len(numbers)
            label = f"{house} {street} (middle of its {len(numbers)} known buildings)"
            return Found(lat, lon, "named_place", PRECISION_M["named_place"], label)
        return _between(house, street, numbers) or _near(house, street, numbers) or _beyond(house, street, numbers)


def _between(house: int, street: Street, numbers: dict[int, Point]) -> Found | None:
    for candidates in ([n for n in numbers if n % 2 == house % 2], list(numbers)):
        below = max((n for n in candidates if n < house), default=None)
        above = min((n for n in candidates if n > house), default=None)
        if below is None or above is None or above - below > MAX_GAP:
            continue
        a, b = numbers[below], numbers[above]
        if metres(a.lat, a.lon, b.lat, b.lon) > MAX_SPAN_M:
            continue
        t = (house - below) / (above - below)
        lat, lon = a.lat + (b.lat - a.lat) * t, a.lon + (b.lon - a.lon) * t
        label = f"{house} {street} (between {below} and {above})"
        return Found(lat, lon, "named_street", PRECISION_M["between"], label)
    return None


def _near(house: int, street: Street, numbers: dict[int, Point]) -> Found | None:
    nearest = min(numbers, key=lambda n: abs(n - house))
    if abs(nearest - house) > NEAR:
        return None
    p = numbers[nearest]
    return Found(p.lat, p.lon, "named_street", PRECISION_M["near"], f"{house} {street} (next to {nearest})")


def _beyond(house: int, street: Street, numbers: dict[int, Point]) -> Found:
    """Past either end: along the line from the end point to the farthest known point within 150
    numbers of it (a longer base gives a steadier direction than the next-door building)."""
    known = sorted(numbers)
    if known[0] < house < known[-1]:
        raise NoRule(
            f"{house} {street} falls in a stretch where the known house numbers are too far apart to place it; "
            f"enter {street} and a cross street instead, such as W 52 St & 11 Ave"
        )
    end = known[0] if house < known[0] else known[-1]
    base = [n for n in known if n != end and abs(n - end) <= 150]
    a = numbers[end]
    far = max(base, key=lambda n: metres(a.lat, a.lon, numbers[n].lat, numbers[n].lon), default=None)
    if far is not None and abs(house - end) <= EXTRA:
        b = numbers[far]
        if abs(far - end) >= 10 and metres(a.lat, a.lon, b.lat, b.lon) >= 40:
            t = (house - end) / (far - end)
            lat, lon = a.lat + (b.lat - a.lat) * t, a.lon + (b.lon - a.lon) * t
            if metres(a.lat, a.lon, lat, lon) <= EXTRA_M:
                label = f"{house} {street} (beyond {end}, along {end}-{far})"
                return Found(lat, lon, "named_street", PRECISION_M["beyond"], label)
    raise NoRule(
        f"{house} {street} is outside the house numbers known offline on that street ({known[0]}-{known[-1]}); "
        f"enter {street} and a cross street instead, such as W 52 St & 11 Ave"
    )
