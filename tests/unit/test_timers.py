"""Timers: many sleeps served by one timer task (``smstrio.nursery.timers``)."""

from __future__ import annotations

import trio
import trio.testing

from smstrio.nursery.timers import Timers


async def test_sleepers_wake_at_their_deadlines_in_order(autojump_clock: trio.testing.MockClock) -> None:
    """Each sleeper wakes exactly when its time is up, also one that asks for an earlier deadline than the rest."""
    timers = Timers()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await timers.sleep(seconds)
        woke.append((name, trio.current_time()))

    async with trio.open_nursery() as nursery:
        await nursery.start(timers.run)
        nursery.start_soon(sleeper, "slow", 5.0)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(sleeper, "fast", 1.5)  # earlier than what the timer task waits for
        nursery.start_soon(sleeper, "same", 5.0)
        await trio.sleep(6)
        nursery.cancel_scope.cancel()
    # Trio runs tasks woken in the same tick in a random order: only the times are certain.
    assert woke[0] == ("fast", 1.5)
    assert sorted(woke[1:]) == [("same", 5.0), ("slow", 5.0)]


async def test_a_cancelled_sleeper_is_dropped_and_the_rest_still_wake(autojump_clock: trio.testing.MockClock) -> None:
    """Cancelling one sleep raises Cancelled in that task only; the timer goes on serving the others."""
    timers = Timers()
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await timers.sleep(seconds)
        woke.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        await nursery.start(timers.run)
        with trio.move_on_after(1.0) as scope:
            await timers.sleep(2.0)
        nursery.start_soon(sleeper, 3.0)
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert scope.cancelled_caught
    assert woke == [4.0]


async def test_a_zero_or_negative_sleep_is_only_a_checkpoint(autojump_clock: trio.testing.MockClock) -> None:
    """sleep(0) and sleep(-1) return without time passing, even with no timer task running."""
    timers = Timers()
    start = trio.current_time()
    with trio.fail_after(1):
        await timers.sleep(0)
        await timers.sleep(-1)
    assert trio.current_time() == start
