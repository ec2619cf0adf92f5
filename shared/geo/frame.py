"""Manhattan's grid frame: a local metric projection rotated so that one axis runs "uptown".

Manhattan's avenues run about 29° east of true north. Projecting (lat, lon) to metres around a fixed
origin (equirectangular: exact to well under a metre over the island) and rotating by that angle gives
`u` (metres uptown, along the avenues) and `v` (metres crosstown, positive towards the Hudson, i.e. west).
In that frame streets are lines of constant `u` and avenues lines of nearly constant `v`.
"""

from __future__ import annotations

import math

ORIGIN_LAT = 40.7580  # Times Square: the middle of the grid
ORIGIN_LON = -73.9855
GRID_ANGLE_DEG = 29.0
M_PER_DEG_LAT = 111_132.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(ORIGIN_LAT))
_COS = math.cos(math.radians(GRID_ANGLE_DEG))
_SIN = math.sin(math.radians(GRID_ANGLE_DEG))

# Manhattan island (without Roosevelt Island, Randalls Island, Marble Hill), a coarse shoreline polygon.
MANHATTAN: tuple[tuple[float, float], ...] = (
    (40.7003, -74.0190),
    (40.7110, -74.0180),
    (40.7300, -74.0125),
    (40.7520, -74.0100),
    (40.7700, -73.9960),
    (40.8000, -73.9750),
    (40.8300, -73.9560),
    (40.8560, -73.9420),
    (40.8730, -73.9300),
    (40.8800, -73.9260),
    (40.8790, -73.9150),
    (40.8740, -73.9080),
    (40.8660, -73.9120),
    (40.8590, -73.9180),
    (40.8470, -73.9290),
    (40.8340, -73.9340),
    (40.8180, -73.9330),
    (40.8060, -73.9310),
    (40.7960, -73.9280),
    (40.7870, -73.9390),
    (40.7750, -73.9420),
    (40.7630, -73.9540),
    (40.7500, -73.9660),
    (40.7420, -73.9715),
    (40.7280, -73.9705),
    (40.7110, -73.9760),
    (40.7080, -73.9980),
    (40.7010, -74.0110),
)


def to_xy(lat: float, lon: float) -> tuple[float, float]:
    """Metres east and north of the origin."""
    return (lon - ORIGIN_LON) * M_PER_DEG_LON, (lat - ORIGIN_LAT) * M_PER_DEG_LAT


def to_grid(lat: float, lon: float) -> tuple[float, float]:
    """(u, v): metres uptown along the avenues, metres crosstown towards the west."""
    x, y = to_xy(lat, lon)
    return x * _SIN + y * _COS, -x * _COS + y * _SIN


def from_grid(u: float, v: float) -> tuple[float, float]:
    """(lat, lon) of a grid-frame point."""
    x = u * _SIN - v * _COS
    y = u * _COS + v * _SIN
    return ORIGIN_LAT + y / M_PER_DEG_LAT, ORIGIN_LON + x / M_PER_DEG_LON


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Straight-line distance (equirectangular; within 0.1 % of geodesic over a few km)."""
    mid = math.cos(math.radians((lat1 + lat2) / 2))
    dx = (lon2 - lon1) * 111_320.0 * mid
    dy = (lat2 - lat1) * M_PER_DEG_LAT
    return math.hypot(dx, dy)


def in_manhattan(lat: float, lon: float) -> bool:
    """Point-in-polygon (ray casting) against the coarse shoreline."""
    inside = False
    points = MANHATTAN
    j = len(points) - 1
    for i, (lat_i, lon_i) in enumerate(points):
        lat_j, lon_j = points[j]
        if (lat_i > lat) != (lat_j > lat) and lon < (lon_j - lon_i) * (lat - lat_i) / (lat_j - lat_i) + lon_i:
            inside = not inside
        j = i
    return inside
