"""`/ws` as a plain ASGI endpoint: `hello`, then every pushed message, from the client's bounded
backlog (`broadcaster.Subscription`).

It runs below Quart because a fan-out is one send per client per batch: Quart's websocket wrapper
adds a loop iteration, a context lookup and a signal to each send, which for 1,000 clients is most
of the time from the NOTIFY to the last client. The limits apply before the handshake completes: a
client address over its websocket limit (or a full server) is refused with HTTP 429 and a JSON
reason. The client has nothing to say; more than `max_incoming` messages from it close the socket.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from services.web.broadcaster import Broadcaster
from services.web.security import ConnectionLimiter
from services.web.state import LiveState


class WebsocketEndpoint:
    def __init__(
        self,
        broadcaster: Broadcaster,
        state: LiveState,
        limiter: ConnectionLimiter,
        headers: list[tuple[bytes, bytes]],
        on_clients: Callable[[int], None],
        on_refused: Callable[[], None],
        max_incoming: int = 20,
    ) -> None:
        self._broadcaster = broadcaster
        self._state = state
        self._limiter = limiter
        self._headers = headers
        self._on_clients = on_clients
        self._on_refused = on_refused
        self._max_incoming = max_incoming

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        client = scope["client"][0] if scope.get("client") else "?"
        refused = self._limiter.acquire(client)
        if refused is not None:
            self._on_refused()
            await self._refuse(scope, send, refused)
            return
        try:
            async with self._broadcaster.subscribe() as subscription:
                self._on_clients(self._broadcaster.clients)
                await send({"type": "websocket.accept"})
                await send(
                    {"type": "websocket.send", "text": json.dumps({"type": "hello", **self._state.clock_json()})}
                )
                sender = asyncio.current_task()
                assert sender is not None
                ended: list[bool] = []
                reader = asyncio.ensure_future(self._read(receive, send, sender, ended))
                try:
                    while True:
                        await send({"type": "websocket.send", "text": await subscription.get()})
                except asyncio.CancelledError:
                    if not ended:  # cancelled from outside (shutdown): let it propagate
                        raise
                finally:
                    reader.cancel()
        finally:
            self._limiter.release(client)
            self._on_clients(self._broadcaster.clients)

    async def _read(self, receive: Any, send: Any, sender: asyncio.Task[Any], ended: list[bool]) -> None:
        """Ends the sender when the client leaves or floods (the sender may be parked on a stalled send)."""
        for _ in range(self._max_incoming + 1):
            if (await receive())["type"] == "websocket.disconnect":
                break
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": "this websocket only sends"})
        ended.append(True)
        sender.cancel()

    async def _refuse(self, scope: dict[str, Any], send: Any, reason: str) -> None:
        if "websocket.http.response" not in (scope.get("extensions") or {}):
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
            return
        body = json.dumps({"error": reason, "status": 429}).encode()
        headers = [*self._headers, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
