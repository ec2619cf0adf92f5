"""services.web.security and services.web.state, pure: the token bucket, the websocket counter, the
`at` parameter's bounds, and documents encoded once per state version."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from services.web.security import BadParameter, ConnectionLimiter, RateLimiter, check_known, parse_moment
from services.web.state import LiveState
from services.web.stations import DataClock

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_bucket_allows_a_burst_then_refuses_and_keeps_addresses_apart() -> None:
    limiter = RateLimiter(rate=0.001, burst=3)
    assert [limiter.allow("a") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow("b")
    assert RateLimiter(rate=0, burst=1).allow("a")  # 0: no limit
    assert all(RateLimiter(rate=0, burst=1).allow("a") for _ in range(100))


def test_websockets_are_counted_per_address_and_in_all() -> None:
    limiter = ConnectionLimiter(per_client=2, total=3)
    assert limiter.acquire("a") is None
    assert limiter.acquire("a") is None
    assert "per client address" in str(limiter.acquire("a"))
    assert limiter.acquire("b") is None
    assert "maximum of 3" in str(limiter.acquire("c"))
    limiter.release("a")
    assert limiter.acquire("c") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-09-10T10:00:00Z", datetime(2024, 9, 10, 10, tzinfo=UTC)),
        ("2024-09-10T10:00:00+09:00", datetime(2024, 9, 10, 1, tzinfo=UTC)),  # honoured, not dropped
        ("2024-09-10T10:00:00 09:00", datetime(2024, 9, 10, 1, tzinfo=UTC)),  # an unescaped + in a query
    ],
)
def test_a_moment_keeps_its_offset(text: str, expected: datetime) -> None:
    assert parse_moment("at", text, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2024-09-10T10:00:00", "needs a zone offset"),
        ("2012-12-31T00:00:00Z", "must lie between"),
        ("2026-01-03T00:00:00Z", "must lie between"),
        ("soon", "ISO 8601"),
        ("2" * 65, "longer than 64"),
    ],
)
def test_a_moment_out_of_bounds_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(BadParameter, match=reason):
        parse_moment("at", text, now=NOW)


def test_unknown_parameters_are_named() -> None:
    check_known({"at": "x"}, ["at"])
    with pytest.raises(BadParameter, match="unknown parameter 'bbox'; allowed: at"):
        check_known({"bbox": "1"}, ["at"])


def test_a_document_is_encoded_once_per_version() -> None:
    state = LiveState()
    state.replace_all([], DataClock(7, datetime(2024, 9, 10, tzinfo=UTC)))
    calls: list[int] = []

    def build() -> object:
        calls.append(1)
        return {"n": len(calls)}

    first = state.encoded("doc", build)
    assert state.encoded("doc", build) is first
    assert len(calls) == 1
    assert first is not None
    assert json.loads(gzip.decompress(first.gzipped)) == json.loads(first.body) == {"n": 1}
    state.apply([], DataClock(8, datetime(2024, 9, 11, tzinfo=UTC)))
    second = state.encoded("doc", build)
    assert second is not None
    assert second.etag != first.etag
    assert json.loads(state.api_encoded().body) == {
        "stations": [],
        "as_of": "2024-09-11T00:00:00+00:00",
        "batch_id": 8,
    }
