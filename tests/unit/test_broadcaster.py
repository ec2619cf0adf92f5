"""services.web.broadcaster.Broadcaster: fan-out, unsubscribe, one resync for clients that fall behind
(in messages or in bytes), the same message object for every client."""

from __future__ import annotations

import asyncio

from services.web.broadcaster import RESYNC, Broadcaster, Subscription


async def receive(queue: Subscription) -> str:
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


async def test_a_backlog_is_bounded_in_bytes_not_only_in_messages() -> None:
    broadcaster = Broadcaster(queue_size=1000, max_bytes=10_000)
    big = "x" * 4_000
    async with broadcaster.subscribe() as stalled, broadcaster.subscribe() as reading:
        broadcaster.publish(big)
        broadcaster.publish(big)
        assert stalled.backlog_bytes == 8_000
        assert await receive(reading) == big
        assert await receive(reading) == big
        broadcaster.publish(big)  # 12,000 bytes would pass the bound: the backlog becomes one resync
        assert stalled.qsize() == 1
        assert stalled.backlog_bytes == len(RESYNC)
        assert stalled.get_nowait() == RESYNC
        assert await receive(reading) == big
        assert broadcaster.resyncs == 1


async def test_bytes_are_counted_as_utf8() -> None:
    broadcaster = Broadcaster(queue_size=1000, max_bytes=1_100)
    async with broadcaster.subscribe() as client:
        broadcaster.publish("é" * 500)  # 500 characters, 1,000 bytes
        assert client.backlog_bytes == 1_000
        broadcaster.publish("é" * 100)
        assert client.get_nowait() == RESYNC


async def test_every_client_gets_the_same_message_object() -> None:
    broadcaster = Broadcaster()
    message = '{"type":"stations"}'
    async with broadcaster.subscribe() as first, broadcaster.subscribe() as second:
        broadcaster.publish(message)
        assert (await receive(first)) is (await receive(second)) is message


async def test_get_waits_for_a_message() -> None:
    broadcaster = Broadcaster()
    async with broadcaster.subscribe() as client:
        waiting = asyncio.ensure_future(client.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        broadcaster.publish("later")
        assert await asyncio.wait_for(waiting, 1) == "later"
        assert client.empty()
