"""The Nominatim fallback against a local stub server: used only when the offline geocoder cannot
answer, one request per second, cached, bounded to New York, with the app's User-Agent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from shared.geo import Geocoder, OnlineConfig, OnlineGeocoder, Rejection, Result


class Stub(ThreadingHTTPServer):
    requests: list[tuple[float, dict[str, list[str]], str]]


class Handler(BaseHTTPRequestHandler):
    server: Stub

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        self.server.requests.append((time.monotonic(), query, self.headers.get("User-Agent", "")))
        found = []
        if "fulton" in query.get("q", [""])[0].lower():
            name = "285, Fulton Street, Manhattan"
            found = [{"lat": "40.7127", "lon": "-74.0134", "display_name": name, "place_id": 1}]
        body = json.dumps(found).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
        pass


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub(("127.0.0.1", 0), Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def online(server: Stub) -> Geocoder:
    port = server.server_address[1]
    return Geocoder(online=OnlineGeocoder(OnlineConfig(f"127.0.0.1:{port}", "bikeshare-tests/1.0", scheme="http")))


def test_offline_answers_never_touch_the_network(stub: Stub) -> None:
    geocoder = online(stub)
    for text in ("1 Park Avenue", "200 W 42nd St", "W 52 St & 11 Ave", "hello"):
        geocoder.geocode(text)
    assert stub.requests == []


def test_fallback_is_bounded_identified_cached_and_rate_limited(stub: Stub) -> None:
    geocoder = online(stub)
    answer = geocoder.geocode("285 Fulton Street")  # One World Trade Center: no offline neighbours on Fulton St
    assert isinstance(answer, Result)
    assert (answer.method, answer.lat, answer.lon) == ("nominatim", 40.7127, -74.0134)
    _, query, agent = stub.requests[0]
    assert agent == "bikeshare-tests/1.0"
    assert query["bounded"] == ["1"]
    assert query["countrycodes"] == ["us"]
    assert "viewbox" in query
    assert isinstance(geocoder.geocode("285  fulton street"), Result)  # the cache: same words, no request
    assert len(stub.requests) == 1
    missing = geocoder.geocode("1 Centre Street")  # below the lowest number known offline on Centre St
    assert isinstance(missing, Rejection)
    assert missing.reason == "not_found"
    assert len(stub.requests) == 2
    assert stub.requests[1][0] - stub.requests[0][0] >= 0.95  # one request per second


def test_an_unreachable_server_is_named() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    geocoder = Geocoder(online=OnlineGeocoder(OnlineConfig(f"127.0.0.1:{port}", "bikeshare-tests/1.0", scheme="http")))
    answer = geocoder.geocode("285 Fulton Street")
    assert isinstance(answer, Rejection)
    assert f"127.0.0.1:{port}" in answer.error
