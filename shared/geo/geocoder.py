"""The geocoder: text → `Result` | `Rejection`, offline first, Nominatim only when configured.

Order of methods (the first that answers wins; each result says which one and how precise it is):

1. a station name of the catalogue ("Broadway & W 60 St")                 → station_name, 25 m
2. a street crossing found in the catalogue                               → gazetteer_crossing, 30 m
3. an avenue and a numbered street not in the catalogue: the fitted grid  → grid_crossing, 50 m
4. a Manhattan house number with NYC building points close around it (`named.py`): the building itself
   → address_point, 25 m; the line between the two nearest known numbers of the street → named_street,
   60 m; on a numbered street (14th St and up), between known numbers of it and of the streets up to two
   blocks away (`neighbours.py`) → named_street, 80 m. Measured better than 5-6 where both answer.
5. a Manhattan avenue address: key-number rule, placed on the avenue      → avenue_key_number, 110 m
6. a Manhattan numbered-street address: 100 per avenue block              → crosstown_number, 90 m
7. a Manhattan address no rule covers (Wall St, Lower Broadway, the Bowery, the Village): NYC building
   points of that street (`named.py`): next to a known number (80 m) or past the last one (120 m)
   → named_street; a plaza's numbered building (Penn Plaza): the middle of its buildings → named_place, 150 m
8. anything else, when an online server is configured                     → nominatim, 50 m
"""

from __future__ import annotations

import logging

from shared.geo.frame import from_grid, in_manhattan, to_grid
from shared.geo.gazetteer import Gazetteer, Place
from shared.geo.grid import Grid
from shared.geo.named import NamedStreets
from shared.geo.neighbours import across_streets
from shared.geo.online import OnlineError, OnlineGeocoder
from shared.geo.parse import Address, BadAddress, Crossing, clean, parse
from shared.geo.result import Rejection, Result
from shared.geo.rules import AvenueRule, NoRule, crosstown_anchors, crosstown_limit
from shared.geo.streets import Street

logger = logging.getLogger(__name__)

PRECISION_M = {"station_name": 25.0, "gazetteer_crossing": 30.0, "grid_crossing": 50.0,
               "avenue_key_number": 110.0, "crosstown_number": 90.0, "address_point": 25.0, "named_street": 60.0,
               "named_place": 150.0, "nominatim": 50.0}  # fmt: skip
_OUTER = {"Brooklyn", "Queens", "Bronx", "Jersey City", "Hoboken"}


class Geocoder:
    def __init__(self, gazetteer: Gazetteer | None = None, online: OnlineGeocoder | None = None) -> None:
        self.gazetteer = gazetteer or Gazetteer.from_catalogue()
        self.grid = Grid(self.gazetteer)
        self.avenues = AvenueRule()
        self.named = NamedStreets.from_reference(self.gazetteer)
        self.online = online

    def geocode(self, text: str) -> Result | Rejection:
        try:
            query = clean(text)
        except BadAddress as exc:
            return Rejection(text[:200], str(exc), "format")
        place = self.gazetteer.station(query)
        if place is not None:
            return self._result(query, place.lat, place.lon, "station_name", place.name)
        try:
            parsed = parse(query)
        except BadAddress as exc:
            return Rejection(query, str(exc), "format")
        try:
            if isinstance(parsed, Crossing):
                return self._crossing(query, parsed)
            return self._address(query, parsed)
        except NoRule as exc:
            return self._online(query, str(exc))

    def _result(self, query: str, lat: float, lon: float, method: str, label: str) -> Result:
        return Result(query, lat, lon, method, PRECISION_M[method], label)  # type: ignore[arg-type]

    def _crossing(self, query: str, crossing: Crossing) -> Result | Rejection:
        places = self.gazetteer.crossing(crossing.first, crossing.second)
        if crossing.borough in _OUTER:
            places = [p for p in places if not p.manhattan]
        elif crossing.borough == "Manhattan" or any(p.manhattan for p in places):
            manhattan = [p for p in places if p.manhattan]
            places = manhattan or ([] if crossing.borough == "Manhattan" else places)
        avenue, street = _avenue_and_street(crossing.first, crossing.second)
        on_grid = avenue is not None and street is not None and street.number is not None
        # "5th Ave & 53rd St" without a borough means Manhattan's, even if only Brooklyn has a station
        # named so (an exact station name was matched before, with its own borough).
        prefer_grid = on_grid and crossing.borough is None and not any(p.manhattan for p in places)
        if places and not (prefer_grid and self._grid_point(avenue, street) is not None):
            lat, lon = _centre(places)
            return self._result(query, lat, lon, "gazetteer_crossing", f"{crossing.first} & {crossing.second}")
        if on_grid and crossing.borough not in _OUTER:
            point = self._grid_point(avenue, street)
            if point is not None:
                return self._result(query, *point, "grid_crossing", f"{avenue} & {street}")
        raise NoRule(f"{crossing.first} and {crossing.second} do not cross at any place known offline")

    def _grid_point(self, avenue: Street | None, street: Street | None) -> tuple[float, float] | None:
        if avenue is None or street is None or street.number is None:
            return None
        u = self.grid.street_u(street.number)
        v = self.grid.avenue_v(avenue.key, u)
        return None if v is None else from_grid(u, v)

    def _address(self, query: str, address: Address) -> Result | Rejection:
        if address.borough in _OUTER:
            raise NoRule(f"house numbers in {address.borough} are not known offline; enter a crossing of two streets")
        # Known buildings of the street close around the number first: more precise than the arithmetic.
        close = self.named.building_or_between(address.number, address.street) or across_streets(
            self.named.table, self.grid, address.number, address.street
        )
        if close is not None:
            return Result(query, close.lat, close.lon, close.method, close.precision_m, close.label)  # type: ignore[arg-type]
        try:
            return self._by_rule(query, address)
        except NoRule as rule_failed:
            # No arithmetic for this number: NYC's building points of the street, if the table has them.
            try:
                found = self.named.locate(address.number, address.street)
            except NoRule as named_failed:
                raise (named_failed if address.street.kind == "named" else rule_failed) from None
            return Result(query, found.lat, found.lon, found.method, found.precision_m, found.label)  # type: ignore[arg-type]

    def _by_rule(self, query: str, address: Address) -> Result:
        street = address.street
        if street.kind == "avenue" and street.key in self.avenues.avenues:
            number = self.avenues.cross_street(street.key, address.number)
            u = self.grid.street_u(number)
            v = self.grid.avenue_v(street.key, u)
            if v is None:
                raise NoRule(f"{street} does not run at {number:.0f} St in the offline grid")
            lat, lon = from_grid(u, v)
            return self._result(query, lat, lon, "avenue_key_number", f"{address.number} {street} (at {number:.1f} St)")
        if street.kind == "street" and street.number is not None:
            lat, lon = self._crosstown(address.number, street)
            return self._result(query, lat, lon, "crosstown_number", f"{address.number} {street}")
        raise NoRule(
            f"{street} has no house-number rule offline; enter the nearest crossing, such as {street} & Broadway"
        )

    def _crosstown(self, house: int, street: Street) -> tuple[float, float]:
        assert street.number is not None
        anchors = crosstown_anchors(street.number, street.direction)
        limit = crosstown_limit(street.number, street.direction)
        if limit is not None and house > limit:
            raise NoRule(f"{house} {street} is west of 6th Avenue, where the Village's streets leave the grid")
        u = self.grid.street_u(street.number)
        known: list[tuple[int, float]] = []
        for n, name in anchors:  # York Avenue and Avenue A both carry the 500s: the one that runs here
            avenue, _, west_m = name.partition("+")  # "Amsterdam Avenue+315": a line 315 m west of it
            if (v := self.grid.avenue_v(avenue, u)) is not None and all(n != k for k, _ in known):
                known.append((n, v + float(west_m or 0)))
        if len(known) < 2 or house > known[-1][0] + 100:
            raise NoRule(f"{house} {street} is beyond the avenues the offline rule knows on that street")
        i = 0
        while i < len(known) - 2 and house > known[i + 1][0]:
            i += 1
        (n0, v0), (n1, v1) = known[i], known[i + 1]
        v = v0 + (v1 - v0) * (house - n0) / (n1 - n0)
        return from_grid(u, v)

    def _online(self, query: str, offline_reason: str) -> Result | Rejection:
        if self.online is None:
            return Rejection(query, f"Not found: {offline_reason}.", "not_found")
        try:
            found = self.online.geocode(query)
        except OnlineError as exc:
            logger.warning("online geocoding failed for a query: %s", exc)
            return Rejection(query, f"Not found offline ({offline_reason}), and {exc}.", "not_found")
        if found is None:
            return Rejection(query, "Not found in New York City.", "not_found")
        return self._result(query, found.lat, found.lon, "nominatim", found.label)


def _centre(places: list[Place]) -> tuple[float, float]:
    """The middle of the stations at one crossing (a crossing may have a station on two corners), keeping
    only those within 300 m of the first (the same names recur in other boroughs)."""
    u0, v0 = to_grid(places[0].lat, places[0].lon)
    near = [p for p in places if abs(to_grid(p.lat, p.lon)[0] - u0) + abs(to_grid(p.lat, p.lon)[1] - v0) < 300]
    return sum(p.lat for p in near) / len(near), sum(p.lon for p in near) / len(near)


def _avenue_and_street(a: Street, b: Street) -> tuple[Street | None, Street | None]:
    for one, other in ((a, b), (b, a)):
        if one.kind == "avenue" and other.kind == "street":
            return one, other
    return None, None


def is_manhattan(result: Result) -> bool:
    return in_manhattan(result.lat, result.lon)
