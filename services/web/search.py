"""`GET /api/search?q=...`: an address → its point and the docks with bikes within N blocks.

Registered by `register_search(app, ...)` (one call in `app.py`). Answers from `StationIndex`, loaded
from Postgres (`availability` JOIN `location`) at start, then kept current from the pushed batches
(it subscribes to the broadcaster like a websocket client; a `resync` reloads it) and reloaded in full
every `BIKESHARE_SEARCH_RELOAD_S`.

Responses: 200 `{"query", "point", "radius", "stations", "nearest", "message"}`; 400 `{"error"}` for a
badly formed or missing query; 404 `{"error", "reason"}` when not found or outside the service area;
429 `{"error"}` with Retry-After past the per-client rate; 503 while no station has been loaded yet
(Postgres down since start: the index keeps its last load and is retried on every push and reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from prometheus_client import Counter
from quart import Quart, Response, jsonify, request

from services.web.broadcaster import Broadcaster
from services.web.search_index import StationIndex
from services.web.security import RateLimiter
from services.web.settings import WebSettings
from shared.geo import MAX_QUERY, BlockMetric, Geocoder, OnlineConfig, OnlineGeocoder, Rejection

logger = logging.getLogger(__name__)

SEARCHES = Counter("web_search_requests_total", "Address searches by outcome", ["outcome"])
OUTSIDE_M = 1500.0  # no station at all within this walk: outside the service area
DEFINITION = (
    "On Manhattan's grid (14th-155th St): street blocks (80 m uptown/downtown) plus avenue blocks "
    "(between the real avenues) <= {n:g}; elsewhere a straight line of {m:.0f} m."
)
_STATIONS_SQL = """
SELECT a.station_id, l.street AS name, l.lat, l.lon, a.bikes, a.ebikes, a.docks, a.capacity, a.over_capacity,
       a.last_event_time
FROM availability a JOIN location l USING (station_id)
"""


def station_json(row: Any) -> dict[str, Any]:
    return {
        "station_id": row["station_id"],
        "name": row["name"],
        "lat": row["lat"],
        "lon": row["lon"],
        "bikes": row["bikes"],
        "ebikes": row["ebikes"],
        "docks": row["docks"],
        "capacity": row["capacity"],
        "over_capacity": row["over_capacity"],
        "last_event_time": row["last_event_time"].isoformat(),
    }


def pushed_station(station: dict[str, Any]) -> dict[str, Any]:
    """A station as the websocket pushes it, in the search's shape (older pushes say `street`)."""
    out = dict(station)
    if "name" not in out:
        out["name"] = out.get("street")
    out.pop("street", None)
    return out


class SearchService:
    def __init__(self, settings: WebSettings, geocoder: Geocoder | None = None) -> None:
        self.settings = settings
        online = None
        if settings.search_nominatim_domain:
            online = OnlineGeocoder(
                OnlineConfig(
                    settings.search_nominatim_domain, settings.search_user_agent, settings.search_nominatim_scheme
                )
            )
        self.geocoder = geocoder or Geocoder(online=online)
        if online is not None and geocoder is not None:
            self.geocoder.online = online
        self.index = StationIndex(BlockMetric(self.geocoder.grid))
        # Its own bucket per client, stricter than the app's general /api/ limit: a search costs more.
        self.limiter = RateLimiter(settings.search_rate_per_minute / 60.0, settings.search_burst)
        self.batches_applied = 0

    async def reload(self, pool: Any) -> None:
        rows = await pool.fetch(_STATIONS_SQL)
        self.index.replace_all(station_json(r) for r in rows)
        logger.info("search index loaded: %d stations", len(self.index))

    def apply(self, message: str) -> bool:
        """Apply one broadcaster message; True when the index needs a full reload."""
        update = json.loads(message)
        if update.get("type") == "resync":
            return True
        if update.get("type") == "stations":
            self.index.update(pushed_station(s) for s in update.get("stations", []))
            self.batches_applied += 1
        return False

    async def search(self, query: str | None) -> tuple[dict[str, Any], int]:
        if query is None or not query.strip():
            return {"error": "Enter a building number and a street name, such as 1 Park Avenue."}, 400
        if len(query) > MAX_QUERY:
            return {"error": f"The address is longer than {MAX_QUERY} characters."}, 400
        if self.geocoder.online is not None:
            answer = await asyncio.to_thread(self.geocoder.geocode, query)
        else:
            answer = self.geocoder.geocode(query)  # offline: well under a millisecond, no I/O
        if isinstance(answer, Rejection):
            status = 400 if answer.reason == "format" else 404
            return {"error": answer.error, "reason": answer.reason}, status
        if not len(self.index):
            return {"error": "The station data is not loaded yet; try again in a minute.", "reason": "unavailable"}, 503
        blocks = self.settings.search_blocks
        at = self.index.metric.point(answer.lat, answer.lon)
        closest = self.index.nearest(at, k=1, with_bikes=False)
        if not closest or closest[0].walking_m > OUTSIDE_M:
            outside = f"{answer.label} is outside the Citi Bike service area (no dock within {OUTSIDE_M / 1000:g} km)."
            return {"error": outside, "reason": "outside"}, 404
        within = self.index.within if self.settings.search_index == "grid" else self.index.within_scan
        hits = within(at, blocks)
        nearest = [] if hits else self.index.nearest(at, k=3)
        message: str | None = None
        if not hits:
            message = f"No docks with bikes within {blocks:g} blocks; the nearest {len(nearest)} are listed."
        radius_m = blocks * 250.0 / 3
        return {
            "query": answer.query,
            "point": answer.json(),
            "radius": {
                "blocks": blocks,
                "on_grid": at.on_grid,
                "metres": None if at.on_grid else round(radius_m),
                "definition": DEFINITION.format(n=blocks, m=radius_m),
            },
            "stations": [h.json() for h in hits],
            "nearest": [h.json() for h in nearest],
            "message": message,
        }, 200


def register_search(
    app: Quart, settings: WebSettings, broadcaster: Broadcaster, pool: Callable[[], Any]
) -> SearchService:
    """Add `/api/search` and the index's lifecycle to the app (after the app's own start-up)."""
    service = SearchService(settings)
    tasks: list[asyncio.Task[None]] = []

    async def reload() -> None:
        # Postgres may be down (the web starts and keeps serving without it): keep the last index, try later.
        try:
            await service.reload(pool())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            logger.warning("search index not reloaded (keeping the last one, retrying later): %s", exc)

    async def follow_pushes() -> None:
        async with broadcaster.subscribe() as queue:
            await reload()  # catch up on what changed before the subscription
            while True:
                if service.apply(await queue.get()):
                    await reload()

    async def reload_periodically() -> None:
        while True:
            await asyncio.sleep(settings.search_reload_s)
            await reload()

    @app.before_serving
    async def start_search() -> None:
        await reload()
        tasks.append(asyncio.create_task(follow_pushes()))
        tasks.append(asyncio.create_task(reload_periodically()))

    @app.after_serving
    async def stop_search() -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @app.get("/api/search")
    async def api_search() -> tuple[Response, int, dict[str, str]]:
        if not service.limiter.allow(request.remote_addr or "unknown"):
            SEARCHES.labels("rate_limited").inc()
            retry = str(service.limiter.retry_after_s())
            return jsonify({"error": f"Too many searches; try again in {retry} s."}), 429, {"Retry-After": retry}
        body, status = await service.search(request.args.get("q"))
        SEARCHES.labels(str(body.get("reason", "found")) if status != 400 else "format").inc()
        return jsonify(body), status, {"Cache-Control": "no-store"}

    app.extensions["search"] = service
    return service
