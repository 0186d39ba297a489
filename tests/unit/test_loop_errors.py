"""Unit tier: errors and shutdown, on the draining trio-asyncio loop and on the stock one (``drain``)."""

from __future__ import annotations

import contextvars

import pytest
import trio

from smstrio.adapters.loop import LoopStatistics, open_loop
from tests.unit.loopkit import _draining, _settle

# Errors and shutdown


async def test_an_error_in_a_callback_reaches_the_nursery_and_later_callbacks_still_run(drain: bool) -> None:
    """A callback's exception ends the loop's block through its nursery; callbacks queued after it still run."""
    ran: list[str] = []

    def fails() -> None:
        raise ZeroDivisionError("in a callback")

    with pytest.RaisesGroup(ZeroDivisionError, flatten_subgroups=True):
        async with open_loop(drain=drain) as loop:
            loop.call_soon(fails)
            loop.call_soon(ran.append, "after")
            with trio.fail_after(5):
                await trio.sleep_forever()
    assert ran == ["after"]


async def test_an_error_in_a_callback_goes_to_the_loops_exception_handler(drain: bool) -> None:
    """A callback's exception is handed to the loop's exception handler, and the loop goes on."""
    errors: list[BaseException | None] = []
    ran: list[str] = []

    def fails() -> None:
        raise ZeroDivisionError("in a callback")

    async with open_loop(drain=drain) as loop:
        loop.set_exception_handler(lambda _, context: errors.append(context.get("exception")))
        loop.call_soon(fails)
        loop.call_soon(ran.append, "after")
        await _settle(loop)
        loop.call_soon(ran.append, "next pass")
        await _settle(loop)
    assert [type(e) for e in errors] == [ZeroDivisionError]
    assert ran == ["after", "next pass"]


async def test_callbacks_queued_behind_stop_still_run_when_the_loop_closes(drain: bool) -> None:
    """``stop()`` mid-pass leaves the rest of the pass queued, and closing the loop runs it."""
    ran: list[str] = []

    async with open_loop(drain=drain) as loop:
        loop.call_soon(ran.append, "before")
        loop.stop()
        for name in ("after 1", "after 2"):
            loop.call_soon(ran.append, name)
    assert ran == ["before", "after 1", "after 2"]


async def test_statistics_are_an_immutable_snapshot() -> None:
    """``statistics()`` returns a frozen record that later passes do not change."""
    async with open_loop() as aio_loop:
        loop = _draining(aio_loop)
        snapshot = loop.statistics()
        await _settle(loop)
        assert loop.statistics().passes > snapshot.passes
    with pytest.raises(AttributeError):
        snapshot.passes = 0  # type: ignore[misc]
    assert isinstance(snapshot, LoopStatistics)


async def test_call_soon_refuses_a_coroutine_function_in_debug_mode(drain: bool) -> None:
    """In debug mode call_soon refuses a coroutine function, as asyncio does; the callback's context is kept."""

    async def coroutine_function() -> None:
        """Not a callback."""

    async with open_loop(drain=drain) as loop:
        loop.set_debug(True)
        with pytest.raises(TypeError, match="coroutines cannot be used"):
            loop.call_soon(coroutine_function)
        loop.set_debug(False)
        seen: list[str] = []
        marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker")
        context = contextvars.copy_context()
        context.run(marker.set, "from the context")
        loop.call_soon(lambda: seen.append(marker.get("unset")), context=context)
        await _settle(loop)
    assert seen == ["from the context"]
