""" "Within N blocks", the way a New Yorker walks it.

On Manhattan's grid (both points in Manhattan between 14th and 155th Street) the distance is counted in
blocks along the grid, in the rotated frame of `frame.py`:

    blocks = |Δu| / 80 m                      street blocks: uptown/downtown, ~80 m each
           + |avenue(v1) - avenue(v2)|        avenue blocks: crosstown, counted between the real avenues

`avenue(v)` is the fractional position among the avenue lines (11th, 10th, … 5th, Madison, Park,
Lexington, 3rd, 2nd, 1st, York): halfway from 5th to Madison is 6.5, so an avenue block is as long as the
avenues are apart there (≈150 m on the East Side, ≈270-310 m on the West Side), and beyond the outermost
avenue the last spacing continues. Off the grid (either point) the distance is the straight line in
metres, and N blocks means N * 83.3 m (3 blocks = 250 m, a 3-minute walk).

Walking distance (for ordering) is |Δu| + |Δv| on the grid and the straight line off it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from shared.geo.frame import in_manhattan, metres, to_grid
from shared.geo.grid import GRID_STREETS, Grid

STREET_BLOCK_M = 80.0
OFF_GRID_BLOCK_M = 250.0 / 3


@dataclass(frozen=True)
class GridPoint:
    """A position with everything the block distance needs, computed once."""

    lat: float
    lon: float
    u: float
    v: float
    on_grid: bool
    street_blocks: float  # u / 80 m
    avenue: float  # fractional avenue index

    def grid_blocks(self, other: GridPoint) -> float:
        return abs(self.street_blocks - other.street_blocks) + abs(self.avenue - other.avenue)


class BlockMetric:
    def __init__(self, grid: Grid) -> None:
        lines = grid.line_positions  # west to east: v decreasing
        self._v = [-v for _, v in lines]  # increasing, for bisect
        self._u_range = (grid.street_u(GRID_STREETS[0]), grid.street_u(GRID_STREETS[1]))

    def avenue_index(self, v: float) -> float:
        xs = self._v
        x = -v
        i = min(max(bisect.bisect_right(xs, x) - 1, 0), len(xs) - 2)
        return i + (x - xs[i]) / (xs[i + 1] - xs[i])

    def point(self, lat: float, lon: float) -> GridPoint:
        u, v = to_grid(lat, lon)
        on_grid = self._u_range[0] <= u <= self._u_range[1] and in_manhattan(lat, lon)
        return GridPoint(lat, lon, u, v, on_grid, u / STREET_BLOCK_M, self.avenue_index(v))

    @staticmethod
    def blocks(a: GridPoint, b: GridPoint) -> float:
        """Grid blocks when both are on the grid, else straight-line metres in off-grid blocks."""
        if a.on_grid and b.on_grid:
            return a.grid_blocks(b)
        return metres(a.lat, a.lon, b.lat, b.lon) / OFF_GRID_BLOCK_M

    @staticmethod
    def walking_m(a: GridPoint, b: GridPoint) -> float:
        if a.on_grid and b.on_grid:
            return abs(a.u - b.u) + abs(a.v - b.v)
        return metres(a.lat, a.lon, b.lat, b.lon)
