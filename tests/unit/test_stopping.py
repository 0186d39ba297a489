"""unless_stopped: a call raced against a graceful stop (``smstrio.nursery.stopping``), in virtual time."""

from __future__ import annotations

import trio
import trio.testing

from smstrio.nursery.stopping import unless_stopped


async def _answer_after(seconds: float, answer: str, ended: list[str]) -> str:
    try:
        await trio.sleep(seconds)
    except trio.Cancelled:
        ended.append(f"cancelled at {trio.current_time()}")
        raise
    ended.append(f"returned at {trio.current_time()}")
    return answer


async def test_the_call_that_ends_first_gives_its_result(autojump_clock: trio.testing.MockClock) -> None:
    """A call that returns before the stop gives its result at once, and the race ends with it."""
    stop = trio.Event()
    ended: list[str] = []

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_after, 5.0, stop)
        result = await unless_stopped(stop, _answer_after, 2.0, "ready", ended)
        assert (result, trio.current_time()) == ("ready", 2.0)

    assert ended == ["returned at 2.0"]


async def test_a_stop_first_cancels_the_call_and_gives_none(autojump_clock: trio.testing.MockClock) -> None:
    """A stop before the call returns cancels the call at that instant and gives None."""
    stop = trio.Event()
    ended: list[str] = []

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_after, 1.5, stop)
        result = await unless_stopped(stop, _answer_after, 2.0, "ready", ended)

    assert (result, trio.current_time()) == (None, 1.5)
    assert ended == ["cancelled at 1.5"]


async def test_after_a_stop_the_call_is_not_made(autojump_clock: trio.testing.MockClock) -> None:
    """Once stopped, the call is not made at all and None comes back without waiting."""
    stop = trio.Event()
    ended: list[str] = []
    stop.set()

    assert await unless_stopped(stop, _answer_after, 0.0, "ready", ended) is None
    assert (ended, trio.current_time()) == ([], 0.0)


async def _stop_after(seconds: float, stop: trio.Event) -> None:
    await trio.sleep(seconds)
    stop.set()
