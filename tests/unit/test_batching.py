"""Unit tests for channel batching."""

from __future__ import annotations

import trio
import trio.testing

from smstrio.nursery.batching import next_batch


async def test_next_batch_takes_waiting_items_up_to_max(autojump_clock: trio.testing.MockClock) -> None:
    """next_batch returns the items already waiting, at most max_items, without waiting for more."""
    send, receive = trio.open_memory_channel[int](10)
    async with send, receive:
        for i in range(5):
            send.send_nowait(i)
        start = trio.current_time()
        with trio.fail_after(1):
            assert await next_batch(receive, 3) == [0, 1, 2]
            assert await next_batch(receive, 3) == [3, 4]
        assert trio.current_time() == start


async def test_next_batch_waits_for_the_first_item() -> None:
    """next_batch blocks until one item arrives, then returns it without waiting for a full batch."""
    send, receive = trio.open_memory_channel[str](0)
    batches: list[list[str]] = []

    async def consume() -> None:
        batches.append(await next_batch(receive, 100))

    async with send, receive, trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        assert batches == []
        await send.send("first")
    assert batches == [["first"]]


async def test_next_batch_drains_then_returns_empty_when_closed() -> None:
    """On a closed channel next_batch returns the remaining items, then [] once drained."""
    send, receive = trio.open_memory_channel[int](10)
    async with receive:
        async with send:
            send.send_nowait(1)
            send.send_nowait(2)
        assert await next_batch(receive, 10) == [1, 2]
        assert await next_batch(receive, 10) == []
        assert await next_batch(receive, 10) == []


async def test_next_batch_of_one() -> None:
    """max_items=1 returns exactly one item at a time."""
    send, receive = trio.open_memory_channel[int](10)
    async with send, receive:
        send.send_nowait(1)
        send.send_nowait(2)
        assert await next_batch(receive, 1) == [1]
        assert await next_batch(receive, 1) == [2]


async def test_next_batch_lingers_for_items_that_arrive_soon(autojump_clock: trio.testing.MockClock) -> None:
    """With linger, items arriving within it join the batch; a later one starts the next, ended by the close."""
    send, receive = trio.open_memory_channel[int](10)
    batches: list[tuple[float, list[int]]] = []

    async def consume() -> None:
        while batch := await next_batch(receive, 10, linger=0.02):
            batches.append((trio.current_time(), batch))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        async with send:
            for at, item in ((0.0, 1), (0.01, 2), (0.019, 3), (0.03, 4)):
                await trio.sleep_until(at)
                send.send_nowait(item)
    assert batches == [(0.02, [1, 2, 3]), (0.03, [4])]


async def test_next_batch_stops_lingering_once_full(autojump_clock: trio.testing.MockClock) -> None:
    """A lingering batch is returned the moment it reaches max_items, not when the linger ends."""
    send, receive = trio.open_memory_channel[int](10)
    async with send, receive, trio.open_nursery() as nursery:

        async def feed() -> None:
            for item in range(3):
                await trio.sleep(0.1)
                send.send_nowait(item)

        nursery.start_soon(feed)
        assert await next_batch(receive, 2, linger=5.0) == [0, 1]
        assert trio.current_time() == 0.2


async def test_next_batch_does_not_linger_when_full(autojump_clock: trio.testing.MockClock) -> None:
    """A batch that is already full is returned at once, whatever the linger."""
    send, receive = trio.open_memory_channel[int](10)
    async with send, receive:
        for i in range(4):
            send.send_nowait(i)
        start = trio.current_time()
        assert await next_batch(receive, 4, linger=5.0) == [0, 1, 2, 3]
        assert trio.current_time() == start
