"""What protects the browser and the service: response headers (a Content-Security-Policy without
inline script), per-client-IP request and websocket limits, and bounded API parameters.

The limits are in-process (per replica): a token bucket per client IP for requests and a counter per
IP for open websockets. They are a few lines on the hot path, so they are written here rather than
taken from a rate-limit library whose storage abstraction would cost more than the request itself.
Behind a proxy every client has the proxy's address: limit at the proxy, or set the limit to 0 (off).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Trip files start in 2013; the data's clock may run at most a day ahead of the wall clock.
EARLIEST_DATA = datetime(2013, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)
MAX_PARAM_CHARS = 64


def security_headers(tile_origin: str) -> dict[str, str]:
    """Headers for every response. Scripts only from this origin (no inline script, no eval); map tiles
    may come from `tile_origin`; the websocket and fetches go to this origin only."""
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: {tile_origin}".strip(),
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per client IP: `rate` requests per second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._max_clients = max_clients

    def allow(self, client: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._forget_idle(now)
            bucket = self._buckets[client] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def retry_after_s(self) -> int:
        return max(1, round(1 / self.rate)) if self.rate > 0 else 0

    def _forget_idle(self, now: float) -> None:
        # A bucket idle long enough to be full again holds no information.
        full_after = self.burst / self.rate
        for client in [c for c, b in self._buckets.items() if now - b.at > full_after]:
            del self._buckets[client]


class ConnectionLimiter:
    """At most `per_client` open websockets per client IP and `total` in all."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self._open: dict[str, int] = {}
        self._count = 0

    def acquire(self, client: str) -> str | None:
        """None when admitted (call `release` later); otherwise why not."""
        if self._count >= self.total:
            return f"the server holds its maximum of {self.total} websocket clients"
        if self._open.get(client, 0) >= self.per_client:
            return f"at most {self.per_client} websocket connections per client address"
        self._open[client] = self._open.get(client, 0) + 1
        self._count += 1
        return None

    def release(self, client: str) -> None:
        left = self._open.get(client, 0) - 1
        if left > 0:
            self._open[client] = left
        else:
            self._open.pop(client, None)
        self._count = max(0, self._count - 1)


class BadParameter(ValueError):
    """A request parameter is unknown, too long or out of bounds; the message says which and why."""


def check_known(args: Mapping[str, str], allowed: Iterable[str]) -> None:
    allowed = sorted(allowed)
    for name, value in args.items():
        if name not in allowed:
            raise BadParameter(f"unknown parameter {name[:MAX_PARAM_CHARS]!r}; allowed: {', '.join(allowed) or 'none'}")
        if len(value) > MAX_PARAM_CHARS:
            raise BadParameter(f"parameter {name!r} is longer than {MAX_PARAM_CHARS} characters")


def parse_moment(name: str, text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 moment with a zone offset (or Z), within the data's plausible range."""
    if len(text) > MAX_PARAM_CHARS:
        raise BadParameter(f"parameter {name!r} is longer than {MAX_PARAM_CHARS} characters")
    try:
        # An unescaped "+" of an offset arrives as a space in a query string.
        moment = datetime.fromisoformat(text.replace(" ", "+"))
    except ValueError:
        raise BadParameter(f"parameter {name!r} must be an ISO 8601 time, e.g. 2024-09-10T14:00:00Z") from None
    if moment.tzinfo is None:
        raise BadParameter(f"parameter {name!r} needs a zone offset or Z (e.g. 2024-09-10T14:00:00Z)")
    latest = (now or datetime.now(UTC)) + AHEAD
    if not EARLIEST_DATA <= moment <= latest:
        raise BadParameter(
            f"parameter {name!r} must lie between {EARLIEST_DATA.date()} and {latest.isoformat(timespec='seconds')}"
        )
    return moment.astimezone(UTC)
