"""services.web.broadcaster.Broadcaster: fan-out, unsubscribe, one resync for clients that fall behind."""

from __future__ import annotations

import asyncio

from services.web.broadcaster import RESYNC, Broadcaster


async def receive(queue: asyncio.Queue[str]) -> str:
    return await asyncio.wait_for(queue.get(), timeout=1)


async def test_every_subscriber_receives_a_published_message() -> None:
    broadcaster = Broadcaster()
    assert broadcaster.clients == 0
    async with broadcaster.subscribe() as first, broadcaster.subscribe() as second:
        assert broadcaster.clients == 2
        broadcaster.publish('{"batch": 1}')
        broadcaster.publish('{"batch": 2}')
        assert [await receive(first), await receive(first)] == ['{"batch": 1}', '{"batch": 2}']
        assert [await receive(second), await receive(second)] == ['{"batch": 1}', '{"batch": 2}']
    assert broadcaster.clients == 0


async def test_a_client_that_left_receives_nothing() -> None:
    broadcaster = Broadcaster()
    async with broadcaster.subscribe() as staying:
        async with broadcaster.subscribe() as leaving:
            assert broadcaster.clients == 2
        assert broadcaster.clients == 1
        broadcaster.publish("after")
        assert await receive(staying) == "after"
        assert leaving.empty()
    assert broadcaster.clients == 0


async def test_publishing_without_clients_is_harmless() -> None:
    broadcaster = Broadcaster()
    broadcaster.publish("nobody listens")
    assert broadcaster.clients == 0


async def test_a_client_that_falls_behind_gets_one_resync_and_blocks_no_one() -> None:
    broadcaster = Broadcaster(queue_size=2)
    async with broadcaster.subscribe() as slow, broadcaster.subscribe() as fast:
        broadcaster.publish("m1")
        assert await receive(fast) == "m1"
        broadcaster.publish("m2")
        assert await receive(fast) == "m2"
        broadcaster.publish("m3")  # slow already holds m1 and m2: its backlog becomes one resync
        assert broadcaster.clients == 2
        assert await receive(fast) == "m3"
        assert slow.get_nowait() == RESYNC
        assert slow.empty()
        broadcaster.publish("m4")  # and it keeps receiving after the resync
        assert await receive(slow) == "m4"
        assert await receive(fast) == "m4"
    assert broadcaster.clients == 0
