"""The history API against the app serving what the real pipeline wrote: answers, bounds, and a 400
with a message for every bad parameter."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e_pipeline import Pipeline

pytestmark = pytest.mark.stack


async def get(pipeline: Pipeline, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(pipeline.web_url + path) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/stations?at=yesterday", "parameter 'at' must be an ISO 8601 time"),
        ("/api/stations?at=2024-09-17T08:30", "needs a zone offset or Z"),
        ("/api/stations?at=1999-01-01T00:00Z", "must lie between 2013-01-01"),
        ("/api/stations?at=", "must be an ISO 8601 time"),
        ("/api/frequency?from=yesterday", "parameter 'from' must be an ISO 8601 time"),
        ("/api/frequency?to=2024-09-17T08:30", "parameter 'to' needs a zone offset or Z"),
        ("/api/frequency?step=1h&limit=5", "unknown parameter 'limit'; allowed: from, step, to"),
        ("/api/frequency?step=1s", "step: '1s' is not one of 1m, 15m, 1h, 1d"),
        ("/api/frequency?from=2024-09-01T00:00Z&to=2024-09-30T00:00Z&step=1m", "more than 5000 points"),
        ("/api/frequency?from=2024-09-02T00:00Z&to=2024-09-01T00:00Z", "must be before"),
        ("/api/stations/%3Cimg%3E/history", "station id: 1-64 characters"),
        ("/api/stations/6926.01/history?from=2024-01-01T00:00Z&to=2024-09-01T00:00Z", "more than 31 days"),
    ],
)
async def test_bad_parameters_get_a_400_with_a_message(pipeline: Pipeline, path: str, message: str) -> None:
    status, body = await get(pipeline, path)
    assert status == 400
    assert message in body["error"]


async def test_frequency_buckets_add_up_at_every_step(pipeline: Pipeline) -> None:
    status, span = await get(pipeline, "/api/span")
    assert status == 200
    totals = {}
    for step in ("15m", "1h", "1d"):
        status, body = await get(pipeline, f"/api/frequency?step={step}")
        assert status == 200
        assert body["step"] == step
        assert (body["from"], body["to"]) == (span["from"], span["to"])
        assert sum(n for _, n in body["points"]) == body["total"]
        totals[step] = body["total"]
    assert len(set(totals.values())) == 1
    status, auto = await get(pipeline, "/api/frequency")
    assert auto["total"] == totals["1h"]
    assert len(auto["points"]) <= 1500


async def test_station_history_and_unknown_station(pipeline: Pipeline) -> None:
    status, body = await get(pipeline, "/api/stations/XSS.01/history?from=2024-09-10T00:00Z&to=2024-09-11T00:00Z")
    assert status == 200
    assert body["name"] == "<img src=x onerror=alert(1)>"
    assert len(body["points"]) <= 5001
    status, body = await get(pipeline, "/api/stations/NO.SUCH/history")
    assert status == 404
    assert body["error"] == "no station 'NO.SUCH'"
