"""Manhattan's street grid, fitted to the catalogue's street crossings.

In the rotated frame (`frame.py`) a numbered street is a line of constant `u` and an avenue a line of
(nearly) constant `v`. Each catalogue station named "<avenue> & <E|W n St>" in Manhattan is one
observation of both. From them:

* `street_u(n)`: where street `n` (fractional: 33.5 is midway between 33rd and 34th) crosses the
  avenues: a local straight-line fit over the stations of the nearby streets, so a station standing on
  a corner (±20 m) does not move the street;
* `avenue_v(name, u)`: where an avenue runs at that height, a local fit over its own stations (Broadway
  bends, so it gets a shorter window); an avenue is known between its stations and 400 m past the
  last, so "6th Avenue at 75th Street" is None, not a line drawn through Central Park;
* `LINES`: the grid's avenues west to east, used to count avenue blocks (`blocks.py`).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from functools import cached_property

from shared.geo.frame import to_grid
from shared.geo.gazetteer import Gazetteer

# One physical line under several names (north of 59th St 8th Ave is Central Park West, and so on).
LINE_OF = {
    "Central Park West": "8th Avenue",
    "Columbus Avenue": "9th Avenue",
    "Amsterdam Avenue": "10th Avenue",
    "West End Avenue": "11th Avenue",
    "Lenox Avenue": "6th Avenue",
    "Park Avenue South": "Park Avenue",
    "4th Avenue": "Park Avenue",
}
# The grid's avenue lines, west to east: an avenue block is the stretch between two neighbours.
LINES = (
    "11th Avenue", "10th Avenue", "9th Avenue", "8th Avenue", "7th Avenue", "6th Avenue", "5th Avenue",
    "Madison Avenue", "Park Avenue", "Lexington Avenue", "3rd Avenue", "2nd Avenue", "1st Avenue", "York Avenue",
)  # fmt: skip
# Short avenues without a station of their own: a fixed fraction of the way between two lines.
BETWEEN = {"Vanderbilt Avenue": ("Madison Avenue", "Park Avenue", 0.5)}
GRID_STREETS = (14.0, 155.0)  # the Commissioners' grid proper: below 14th St the Village's streets
STREETS = range(1, 221)
_END_M = 400.0  # an avenue is known 5 blocks past its last station
_REACH_M = 1200.0  # a renamed stretch of the same line: up to 15 blocks from its nearest station


def _line_fit(points: list[tuple[float, float]], at: float) -> float:
    """Least-squares line through (x, y) points, evaluated at `at` (the mean when x barely varies)."""
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx < 1e-6 * n or n < 2:
        return my
    slope = sum((p[0] - mx) * (p[1] - my) for p in points) / sxx
    return my + slope * (at - mx)


def _nearest(points: list[tuple[float, float]], at: float, k: int) -> list[tuple[float, float]]:
    return sorted(points, key=lambda p: abs(p[0] - at))[:k]


class Grid:
    def __init__(self, gazetteer: Gazetteer) -> None:
        streets: dict[int, list[float]] = defaultdict(list)
        avenue_obs: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
        for crossing in gazetteer.crossings:
            if not crossing.place.manhattan:
                continue
            for a, b in ((crossing.first, crossing.second), (crossing.second, crossing.first)):
                if a.kind == "avenue" and b.kind == "street" and b.number is not None and b.direction in "EW":
                    u, v = to_grid(crossing.place.lat, crossing.place.lon)
                    streets[b.number].append(u)
                    avenue_obs[a.key].append((b.number, u, v))
        points = [(float(n), u) for n, us in streets.items() for u in us]
        if len(points) < 20:
            raise ValueError("the station catalogue has too few Manhattan street crossings to fit the grid")
        table = [_line_fit(_nearest(points, n, 12), n) for n in STREETS]
        for i in range(1, len(table)):  # streets never go back downtown
            table[i] = max(table[i], table[i - 1] + 1.0)
        self._street_u = table
        self._avenues: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for name, obs in avenue_obs.items():
            self._avenues[name].extend((u, v) for _, u, v in obs)
            line = LINE_OF.get(name, name)
            self._lines[line].extend((u, v) for n, u, v in obs if GRID_STREETS[0] <= n <= GRID_STREETS[1])

    def street_u(self, number: float) -> float:
        """`u` of (fractional) street `number`, extrapolated linearly past 1st and 220th St."""
        table, first = self._street_u, STREETS[0]
        i = min(max(int(number) - first, 0), len(table) - 2)
        return table[i] + (table[i + 1] - table[i]) * (number - first - i)

    def street_number(self, u: float) -> float:
        """The (fractional) street at height `u`: the inverse of `street_u`."""
        table, first = self._street_u, STREETS[0]
        i = min(max(bisect.bisect_right(table, u) - 1, 0), len(table) - 2)
        return first + i + (u - table[i]) / (table[i + 1] - table[i])

    def avenue_v(self, name: str, u: float) -> float | None:
        """`v` of the avenue at height `u`, or None where the avenue does not run."""
        if name in BETWEEN and name not in self._avenues:
            west, east, fraction = BETWEEN[name]
            v_west, v_east = self.avenue_v(west, u), self.avenue_v(east, u)
            return None if v_west is None or v_east is None else v_west + (v_east - v_west) * fraction
        # Its own stations where it runs between them (or up to 400 m past the last one); else the same line
        # under another name (Central Park West is 8th Avenue) if one of its stations is within 1.2 km; else
        # the avenue does not run here (no line is drawn through Central Park from 59th to 110th St).
        own = self._avenues.get(name, [])
        line = self._lines.get(LINE_OF.get(name, name), [])
        if own and min(p[0] for p in own) - _END_M <= u <= max(p[0] for p in own) + _END_M:
            points = own
        elif line and min(abs(p[0] - u) for p in line) <= _REACH_M:
            points = line
        else:
            return None
        k = 4 if name == "Broadway" else 6
        return _line_fit(_nearest(points, u, k), u)

    @cached_property
    def line_positions(self) -> list[tuple[str, float]]:
        """(name, v) of each grid line west to east: the median `v` of its stations over 14th-155th St.
        The avenues are parallel to well under a degree in the rotated frame, so one number each."""
        positions = []
        for name in LINES:
            values = sorted(v for _, v in self._lines[name])
            if not values:
                raise ValueError(f"the station catalogue has no station on {name} to place it")
            mid = len(values) // 2
            positions.append((name, values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2))
        return positions
