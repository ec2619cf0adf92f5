"""The online fallback: OpenStreetMap's Nominatim through geopy, off unless configured.

Nominatim's usage policy, kept here: an application-specific User-Agent, at most one request per second
for the whole application (one geopy `RateLimiter` per server, shared by every caller in the process;
several web replicas each keep their own, so give each replica its own server or a lower rate), results
cached (hits and misses, bounded LRU), results bounded to New York City's viewbox, and never called as
the user types (the web geocodes on submit only). geopy calls are blocking: async callers run
`geocode` in a thread.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

NYC_VIEWBOX = [(40.4774, -74.2591), (40.9176, -73.7004)]
_LIMITERS: dict[str, Any] = {}
_LIMITERS_LOCK = threading.Lock()


class OnlineError(Exception):
    """The online geocoder could not answer (network, server error); the message names the server."""


@dataclass(frozen=True)
class OnlineConfig:
    domain: str  # "nominatim.openstreetmap.org" or "127.0.0.1:8080"
    user_agent: str  # application-specific, as the usage policy requires
    scheme: str = "https"
    timeout_s: float = 5.0
    min_delay_s: float = 1.0
    cache_size: int = 4096


@dataclass(frozen=True)
class Found:
    lat: float
    lon: float
    label: str


class OnlineGeocoder:
    def __init__(self, config: OnlineConfig) -> None:
        from geopy.extra.rate_limiter import RateLimiter
        from geopy.geocoders import Nominatim

        self.config = config
        nominatim = Nominatim(
            domain=config.domain, scheme=config.scheme, user_agent=config.user_agent, timeout=config.timeout_s
        )
        with _LIMITERS_LOCK:  # one limiter per server for the whole process
            key = f"{config.scheme}://{config.domain}"
            if key not in _LIMITERS:
                _LIMITERS[key] = RateLimiter(
                    nominatim.geocode, min_delay_seconds=config.min_delay_s, max_retries=0, swallow_exceptions=False
                )
            self._limited = _LIMITERS[key]
        self._cache: OrderedDict[str, Found | None] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.requests = 0

    def geocode(self, text: str) -> Found | None:
        key = " ".join(text.lower().split())
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        from geopy.exc import GeopyError

        try:
            self.requests += 1
            location = self._limited(text, exactly_one=True, country_codes="us", viewbox=NYC_VIEWBOX, bounded=True)
        except GeopyError as exc:
            raise OnlineError(f"the online geocoder {self.config.domain} did not answer: {exc}") from exc
        found = None if location is None else Found(location.latitude, location.longitude, location.address)
        with self._cache_lock:
            self._cache[key] = found
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        return found
