"""The history API: the map as it was at a moment, trips over time, one station's bikes over time.

  GET /api/stations?at=ISO-TIME          -> `stations_at` (the live handler in app.py delegates to it)
  GET /api/span                          -> {"from", "to", "clock"}: the replayed data's span and clock
  GET /api/frequency?from=&to=&step=     -> trips per 1m | 15m | 1h | 1d bucket (sparse: empty buckets left out)
  GET /api/stations/<id>/history?from=&to= -> that station's changes (default: the last 24 h of data)

Every parameter is validated in `history_params` (400 with a message), and every answer is bounded:
at most one row per station, MAX_POINTS buckets, MAX_CHANGES changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Blueprint, Response, jsonify, request

from services.web.history_params import (
    DEFAULT_STATION_SPAN,
    MAX_STATION_SPAN,
    STEPS,
    BadParameter,
    Range,
    parse_range,
    parse_station_id,
    parse_step,
)
from services.web.security import check_known

logger = logging.getLogger(__name__)

MAX_STATIONS = 10_000
MAX_CHANGES = 5_000

# Per known station, its latest history row at or before $1 (an index probe per station on the
# (station_id, event_time) key, so the cost follows the number of stations, not the history's length).
_STATIONS_AT = f"""
SELECT l.station_id, coalesce(l.street, si.name) AS name, l.lat, l.lon, h.bikes, h.ebikes, h.docks,
       coalesce(a.capacity, si.capacity) AS capacity, h.event_time
FROM location l
CROSS JOIN LATERAL (
    SELECT bikes, ebikes, docks, event_time FROM availability_history ah
    WHERE ah.station_id = l.station_id AND ah.event_time <= $1
    ORDER BY ah.event_time DESC LIMIT 1
) h
LEFT JOIN station_info si USING (station_id)
LEFT JOIN availability a USING (station_id)
ORDER BY l.station_id
LIMIT {MAX_STATIONS}
"""
_SPAN = """
SELECT least((SELECT min(minute) FROM frequency),
             (SELECT min(h.event_time) FROM location l CROSS JOIN LATERAL (
                  SELECT event_time FROM availability_history x
                  WHERE x.station_id = l.station_id ORDER BY x.event_time LIMIT 1) h)) AS first,
       greatest((SELECT max(max_event_time) FROM sink_batches),
                (SELECT max(minute) + interval '1 minute' FROM frequency)) AS last,
       (SELECT max(max_event_time) FROM sink_batches) AS clock
"""
_BUCKET = {
    "1m": "minute",
    "15m": "date_bin('15 minutes', minute, timestamptz '2000-01-01 00:00+00')",
    "1h": "date_trunc('hour', minute)",
    "1d": "date_trunc('day', minute, 'America/New_York')",
}
_STATION = """
SELECT l.station_id, coalesce(l.street, si.name) AS name, coalesce(a.capacity, si.capacity) AS capacity
FROM location l LEFT JOIN station_info si USING (station_id) LEFT JOIN availability a USING (station_id)
WHERE l.station_id = $1
"""
# The state at `from` (the latest change before it) followed by the changes inside the range.
_STATION_CHANGES = f"""
(SELECT event_time, bikes, ebikes, docks FROM availability_history
 WHERE station_id = $1 AND event_time < $2 ORDER BY event_time DESC LIMIT 1)
UNION ALL
(SELECT event_time, bikes, ebikes, docks FROM availability_history
 WHERE station_id = $1 AND event_time >= $2 AND event_time <= $3 ORDER BY event_time LIMIT {MAX_CHANGES + 1})
ORDER BY event_time
"""


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _bad(exc: BadParameter) -> tuple[Response, int]:
    return jsonify({"error": str(exc)}), 400


async def stations_at(pool: Any, at: datetime) -> list[dict[str, object]]:
    """Every station with a known state at `at`, in the API's station shape (state = latest change <= at)."""
    rows = await pool.fetch(_STATIONS_AT, at)
    return [
        {
            "station_id": r["station_id"],
            "name": r["name"],
            "lat": r["lat"],
            "lon": r["lon"],
            "bikes": r["bikes"],
            "ebikes": r["ebikes"],
            "docks": r["docks"],
            "capacity": r["capacity"],
            "over_capacity": r["capacity"] is not None and r["bikes"] > r["capacity"],
            "last_event_time": _iso(r["event_time"]),
        }
        for r in rows
    ]


async def data_span(pool: Any) -> tuple[Range | None, datetime | None]:
    """The replayed data's time span, and its clock (the latest event time committed, `sink_batches`)."""
    row = await pool.fetchrow(_SPAN)
    if row is None or row["first"] is None or row["last"] is None:
        return None, None
    return Range(row["first"], max(row["last"], row["first"] + timedelta(minutes=1))), row["clock"]


def history_blueprint(get_pool: Callable[[], Any]) -> Blueprint:
    """The blueprint; `get_pool` returns the app's asyncpg pool (created when the app starts serving)."""
    bp = Blueprint("history", __name__)

    @bp.get("/api/span")
    async def span() -> Response:
        found, clock = await data_span(get_pool())
        return jsonify(
            {
                "from": _iso(found.start) if found else None,
                "to": _iso(found.end) if found else None,
                "clock": _iso(clock),
            }
        )

    @bp.get("/api/frequency")
    async def frequency() -> Response | tuple[Response, int]:
        pool = get_pool()
        default, _ = await data_span(pool)
        if default is None:  # nothing replayed yet: an empty answer, not an error
            default = Range(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC))
        try:
            check_known(request.args, ["from", "to", "step"])
            window = parse_range(request.args.get("from"), request.args.get("to"), default=default)
            step = parse_step(request.args.get("step"), window)
        except BadParameter as exc:
            return _bad(exc)
        bucket = _BUCKET[step]
        rows = await pool.fetch(
            f"SELECT {bucket} AS t, sum(amount)::bigint AS n FROM frequency "
            "WHERE minute >= $1 AND minute < $2 GROUP BY 1 ORDER BY 1",
            window.start,
            window.end,
        )
        points = [[_iso(r["t"]), r["n"]] for r in rows]
        return jsonify(
            {
                "from": _iso(window.start),
                "to": _iso(window.end),
                "step": step,
                "step_seconds": STEPS[step],
                "points": points,
                "total": sum(int(r["n"]) for r in rows),
            }
        )

    @bp.get("/api/stations/<station_id>/history")
    async def station_history(station_id: str) -> Response | tuple[Response, int]:
        pool = get_pool()
        try:
            check_known(request.args, ["from", "to"])
            station_id = parse_station_id(station_id)
        except BadParameter as exc:
            return _bad(exc)
        station = await pool.fetchrow(_STATION, station_id)
        if station is None:
            return jsonify({"error": f"no station {station_id!r}"}), 404
        span, _ = await data_span(pool)
        end = span.end if span else datetime.now(UTC)
        default = Range(end - DEFAULT_STATION_SPAN, end)
        try:
            window = parse_range(
                request.args.get("from"), request.args.get("to"), default=default, max_span=MAX_STATION_SPAN
            )
        except BadParameter as exc:
            return _bad(exc)
        rows = await pool.fetch(_STATION_CHANGES, station_id, window.start, window.end)
        if len(rows) > MAX_CHANGES + 1:
            return _bad(BadParameter(f"more than {MAX_CHANGES} changes between from and to; ask for a shorter range"))
        points = [
            {"t": _iso(r["event_time"]), "bikes": r["bikes"], "ebikes": r["ebikes"], "docks": r["docks"]} for r in rows
        ]
        return jsonify(
            {
                "station_id": station["station_id"],
                "name": station["name"],
                "capacity": station["capacity"],
                "from": _iso(window.start),
                "to": _iso(window.end),
                "points": points,
            }
        )

    return bp
