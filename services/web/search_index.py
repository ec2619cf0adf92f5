"""The in-memory station index the address search answers from.

Every station is kept with its grid position (`shared.geo.BlockMetric.point`) in two bucket grids:

* on-grid stations by (street block, avenue block) cells of one block, so "within N blocks" visits only
  the (2N+2)² cells around the address (≈64 for 3 blocks, a few stations each) instead of every station;
* every station by 250 m square cells, for off-grid addresses, off-grid stations and "the nearest three".

Availability numbers are updated in place from each pushed batch; positions come from `location`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from shared.geo import BlockMetric, GridPoint
from shared.geo.frame import to_xy

CELL_M = 250.0
MAX_RING = 40  # nearest-station search gives up beyond ~10 km


@dataclass
class Entry:
    point: GridPoint
    station: dict[str, Any]  # the contract's station JSON


@dataclass(frozen=True)
class Hit:
    station: dict[str, Any]
    blocks: float
    walking_m: float

    def json(self) -> dict[str, Any]:
        return {**self.station, "blocks": round(self.blocks, 2), "walking_m": round(self.walking_m)}


def _metric_cell(lat: float, lon: float) -> tuple[int, int]:
    x, y = to_xy(lat, lon)
    return math.floor(x / CELL_M), math.floor(y / CELL_M)


class StationIndex:
    def __init__(self, metric: BlockMetric) -> None:
        self.metric = metric
        self._entries: dict[str, Entry] = {}
        self._grid_cells: dict[tuple[int, int], set[str]] = defaultdict(set)
        self._metric_cells: dict[tuple[int, int], set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._entries)

    def station(self, station_id: str) -> dict[str, Any] | None:
        entry = self._entries.get(station_id)
        return None if entry is None else entry.station

    def replace_all(self, stations: Iterable[dict[str, Any]]) -> None:
        self._entries.clear()
        self._grid_cells.clear()
        self._metric_cells.clear()
        self.update(stations)

    def update(self, stations: Iterable[dict[str, Any]]) -> None:
        """Insert or refresh stations (contract JSON); a moved station is re-bucketed."""
        for station in stations:
            station_id = str(station["station_id"])
            lat, lon = float(station["lat"]), float(station["lon"])
            old = self._entries.get(station_id)
            if old is not None and (old.point.lat, old.point.lon) == (lat, lon):
                old.station = station
                continue
            if old is not None:
                self._unbucket(station_id, old.point)
            point = self.metric.point(lat, lon)
            self._entries[station_id] = Entry(point, station)
            if point.on_grid:
                self._grid_cells[(math.floor(point.street_blocks), math.floor(point.avenue))].add(station_id)
            self._metric_cells[_metric_cell(lat, lon)].add(station_id)

    def _unbucket(self, station_id: str, point: GridPoint) -> None:
        self._grid_cells.get((math.floor(point.street_blocks), math.floor(point.avenue)), set()).discard(station_id)
        self._metric_cells.get(_metric_cell(point.lat, point.lon), set()).discard(station_id)

    def _metric_ring(self, centre: tuple[int, int], ring: int) -> Iterator[str]:
        cx, cy = centre
        for dx in range(-ring, ring + 1):
            for dy in range(-ring, ring + 1):
                if max(abs(dx), abs(dy)) == ring:
                    yield from self._metric_cells.get((cx + dx, cy + dy), ())

    def candidates(self, at: GridPoint, blocks: float) -> set[str]:
        """Ids of every station that can be within `blocks` of `at` (a superset, from the buckets)."""
        found: set[str] = set()
        if at.on_grid:
            s0, s1 = math.floor(at.street_blocks - blocks), math.floor(at.street_blocks + blocks)
            a0, a1 = math.floor(at.avenue - blocks), math.floor(at.avenue + blocks)
            for s in range(s0, s1 + 1):
                for a in range(a0, a1 + 1):
                    found.update(self._grid_cells.get((s, a), ()))
        rings = math.ceil(blocks * self.metric_block_m / CELL_M)
        centre = _metric_cell(at.lat, at.lon)
        for ring in range(rings + 1):
            ring_ids = self._metric_ring(centre, ring)
            found.update(i for i in ring_ids if not (at.on_grid and self._entries[i].point.on_grid))
        return found

    metric_block_m = 250.0 / 3

    def within(self, at: GridPoint, blocks: float) -> list[Hit]:
        """Stations with bikes within `blocks` of `at`, nearest walk first."""
        hits = []
        for station_id in self.candidates(at, blocks):
            entry = self._entries[station_id]
            if entry.station.get("bikes", 0) <= 0:
                continue
            distance = self.metric.blocks(at, entry.point)
            if distance <= blocks:
                hits.append(Hit(entry.station, distance, self.metric.walking_m(at, entry.point)))
        return sorted(hits, key=lambda h: (h.walking_m, str(h.station["station_id"])))

    def within_scan(self, at: GridPoint, blocks: float) -> list[Hit]:
        """The naive baseline of `within` (benchmarks only): the block distance to every station."""
        hits = [
            Hit(e.station, d, self.metric.walking_m(at, e.point))
            for e in self._entries.values()
            if e.station.get("bikes", 0) > 0 and (d := self.metric.blocks(at, e.point)) <= blocks
        ]
        return sorted(hits, key=lambda h: (h.walking_m, str(h.station["station_id"])))

    def nearest(self, at: GridPoint, k: int = 3, with_bikes: bool = True) -> list[Hit]:
        """The k nearest stations (by walking distance), searching outwards ring by ring."""
        centre = _metric_cell(at.lat, at.lon)
        best: list[Hit] = []
        for ring in range(MAX_RING + 1):
            for station_id in self._metric_ring(centre, ring):
                entry = self._entries[station_id]
                if with_bikes and entry.station.get("bikes", 0) <= 0:
                    continue
                walk = self.metric.walking_m(at, entry.point)
                best.append(Hit(entry.station, self.metric.blocks(at, entry.point), walk))
            best.sort(key=lambda h: (h.walking_m, str(h.station["station_id"])))
            del best[k:]
            # Every station beyond this ring is at least `ring` cells away in a straight line (and a walk along
            # the grid is never shorter than the straight line).
            if len(best) == k and best[-1].walking_m <= ring * CELL_M:
                break
        return best
