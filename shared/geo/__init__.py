"""Address search for New York: `geocode("1 Park Avenue")` → a point, offline first.

Public API (used by the web and available to the enricher):

    from shared.geo import geocode, Geocoder, Result, Rejection, BlockMetric
    geocode("350 5th Ave")          # Result(lat, lon, method="avenue_key_number", precision_m=110, ...)
    geocode("hello")                # Rejection(error="Enter a building number ...", reason="format")

`geocode` uses one process-wide offline `Geocoder` built on first use (≈0.6 s under load: it reads the station
catalogue, fits the grid and loads the named-street table); nothing is read at import. Build your own
`Geocoder(online=...)` to add the Nominatim fallback. Modules: streets (names), parse (usaddress), gazetteer
(catalogue crossings), frame (rotated grid frame), grid (fitted streets and avenues), rules (house numbers),
named (named streets: NYC building points), online (Nominatim), blocks ("within N blocks"), geocoder (the
method order), result.
"""

from __future__ import annotations

import threading

from shared.geo.blocks import BlockMetric, GridPoint
from shared.geo.geocoder import Geocoder
from shared.geo.online import OnlineConfig, OnlineGeocoder
from shared.geo.parse import EXPECTED, MAX_QUERY
from shared.geo.result import Rejection, Result

__all__ = ["EXPECTED", "MAX_QUERY", "BlockMetric", "Geocoder", "GridPoint", "OnlineConfig", "OnlineGeocoder",
           "Rejection", "Result", "default_geocoder", "geocode"]  # fmt: skip

_default: Geocoder | None = None
_lock = threading.Lock()


def default_geocoder() -> Geocoder:
    """The process-wide offline geocoder (built once, on first use)."""
    global _default
    with _lock:
        if _default is None:
            _default = Geocoder()
        return _default


def geocode(text: str) -> Result | Rejection:
    return default_geocoder().geocode(text)
