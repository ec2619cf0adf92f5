"""Serving an encoded document: 304 on a matching If-None-Match, the gzipped bytes when the client
accepts gzip, the plain bytes otherwise. No encoding or compression happens per request."""

from __future__ import annotations

from quart import Response, request

from services.web.state import Encoded

JSON = "application/json"


def encoded_response(doc: Encoded, cache_control: str = "no-cache") -> Response:
    headers = {"ETag": doc.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if doc.etag in request.headers.get("If-None-Match", ""):
        return Response(b"", 304, headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(doc.gzipped, 200, headers, content_type=JSON)
    return Response(doc.body, 200, headers, content_type=JSON)
