"""Unit tier: cancellation and crossings, on the draining trio-asyncio loop and on the stock one (``drain``)."""

from __future__ import annotations

import asyncio

import trio
import trio_asyncio
from trio.testing import MockClock

from smstrio.adapters.bridge import cross
from smstrio.adapters.loop import open_loop
from tests.unit.loopkit import _settle

# Cancellation


async def test_a_callback_cancelled_earlier_in_the_same_pass_does_not_run(drain: bool) -> None:
    """Cancelling a queued handle, even from a callback just before it, keeps it from running."""
    ran: list[str] = []

    async with open_loop(drain=drain) as loop:
        loop.call_soon(ran.append, "cancelled from trio").cancel()
        victim: list[asyncio.Handle] = []
        loop.call_soon(lambda: victim[0].cancel())
        victim.append(loop.call_soon(ran.append, "cancelled by a callback"))
        loop.call_soon(ran.append, "kept")
        await _settle(loop)
    assert ran == ["kept"]


async def test_a_trio_deadline_cancels_the_asyncio_coroutine(drain: bool, autojump_clock: MockClock) -> None:
    """A Trio timeout around a crossing throws CancelledError into the asyncio coroutine, at the deadline."""
    seen: list[str] = []

    async def wait_long() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async with open_loop(drain=drain):
        start = trio.current_time()
        with trio.move_on_after(1) as scope:
            await cross(wait_long)
        elapsed = trio.current_time() - start
    assert scope.cancelled_caught
    assert seen == ["cancelled"]
    assert elapsed == 1


async def test_cancelling_an_asyncio_task_works_inside_asyncio(drain: bool) -> None:
    """``Task.cancel()`` from asyncio code cancels the task, and the awaiting coroutine sees it."""

    async def cancel_a_task() -> str:
        task = asyncio.ensure_future(asyncio.sleep(10))
        await asyncio.sleep(0)
        asyncio.get_running_loop().call_soon(task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "finished"

    async with open_loop(drain=drain):
        with trio.fail_after(5):
            assert await cross(cancel_a_task) == "cancelled"


# Crossings


async def test_crossings_both_ways_return_results_in_order(drain: bool) -> None:
    """aio_as_trio into asyncio, then 50 concurrent trio_as_aio calls back into Trio, all return their values."""

    async def trio_double(x: int) -> int:
        await trio.lowlevel.checkpoint()
        return 2 * x

    async def from_asyncio() -> list[int]:
        calls = [trio_asyncio.trio_as_aio(trio_double)(i) for i in range(50)]
        results: list[int] = await asyncio.gather(*calls)
        return results

    async with open_loop(drain=drain):
        with trio.fail_after(5):
            assert await cross(from_asyncio) == [2 * i for i in range(50)]


async def test_a_trio_error_crosses_back_into_asyncio(drain: bool) -> None:
    """An exception raised by Trio code called from asyncio reaches the asyncio caller unchanged."""

    async def trio_fails() -> None:
        await trio.lowlevel.checkpoint()
        raise KeyError("from trio")

    async def from_asyncio() -> str:
        try:
            await trio_asyncio.trio_as_aio(trio_fails)()
        except KeyError as exc:
            return str(exc)
        return "no error"

    async with open_loop(drain=drain):
        assert await cross(from_asyncio) == "'from trio'"
