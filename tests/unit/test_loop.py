"""Unit tier: the draining trio-asyncio loop keeps the stock loop's semantics, with wider passes.

Most tests run on both loops (``stock``, ``draining``): the draining loop must behave
exactly as trio-asyncio's own. No server is involved; timer tests use virtual time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import sniffio
import trio
import trio_asyncio
from trio.testing import MockClock

from smstrio.adapters import loop as loop_module
from smstrio.adapters.bridge import cross, open_bridge
from smstrio.adapters.loop import DrainingTrioEventLoop, open_loop, supports
from tests.unit.loopkit import _draining, _settle


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


# Which loop runs


@pytest.mark.parametrize(
    ("version", "ok"),
    [("0.16.0", True), ("0.16.3", True), ("0.16.0rc1", True), ("0.17.0", False), ("0.15.9", False), ("1.16", False)],
)
def test_only_the_pinned_trio_asyncio_series_is_supported(version: str, ok: bool) -> None:
    """The draining loop is enabled for trio-asyncio 0.16.x only."""
    assert supports(version) is ok


def test_the_installed_trio_asyncio_is_supported() -> None:
    """The pinned trio-asyncio is installed, so the draining loop is in use (not silently the fallback)."""
    assert loop_module.SUPPORTED


async def test_open_bridge_runs_the_adapters_on_the_draining_loop() -> None:
    """Coroutines crossing the bridge run on a DrainingTrioEventLoop that drains whole passes."""
    async with open_bridge():
        loop = _draining(await cross(_running_loop))
        before = loop.statistics()
        await cross(asyncio.gather, *(asyncio.sleep(0) for _ in range(100)))
        after = loop.statistics()
    assert after.passes > before.passes
    assert after.largest_pass == 100  # the hundred sleeps, ready together, ran in one pass


async def test_open_loop_without_drain_is_the_stock_loop() -> None:
    """``open_loop(drain=False)`` gives trio-asyncio's own loop, for comparison."""
    async with open_loop(drain=False) as loop:
        assert type(loop) is trio_asyncio.TrioEventLoop


async def test_unsupported_trio_asyncio_falls_back_to_the_stock_loop_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Under another trio-asyncio version the stock loop runs, with one warning per process."""
    monkeypatch.setattr(loop_module, "SUPPORTED", False)
    loop_module._warn_unsupported.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=loop_module.__name__):
            for _ in range(2):
                async with open_loop() as loop:
                    assert type(loop) is trio_asyncio.TrioEventLoop
    finally:
        loop_module._warn_unsupported.cache_clear()
    [record] = [r for r in caplog.records if r.name == loop_module.__name__]
    assert record.levelno == logging.WARNING
    assert record.__dict__["fields"]["version"] == trio_asyncio.__version__


def test_adopt_refuses_anything_but_a_stock_loop() -> None:
    """Only a plain ``TrioEventLoop`` can be re-classed; anything else is a TypeError."""
    with pytest.raises(TypeError, match="can only adopt"):
        DrainingTrioEventLoop.adopt(object())


# Ordering and passes


async def test_callbacks_run_in_fifo_order(drain: bool) -> None:
    """Callbacks run in the order queued; those queued by a callback follow everything queued before."""
    ran: list[Any] = []

    def parent(i: int) -> None:
        ran.append(i)
        loop.call_soon(ran.append, ("child", i))

    async with open_loop(drain=drain) as loop:
        for i in range(50):
            loop.call_soon(parent, i)
        await _settle(loop)
        await _settle(loop)
    assert ran == list(range(50)) + [("child", i) for i in range(50)]


async def test_a_pass_runs_every_ready_callback_and_defers_new_ones() -> None:
    """Callbacks ready together run in one pass; one queued by a callback runs on a later pass."""
    passes: dict[str, int] = {}

    def mark(name: str) -> None:
        passes[name] = loop.statistics().passes

    def first() -> None:
        mark("first")
        loop.call_soon(mark, "child")

    async with open_loop() as aio_loop:
        loop = _draining(aio_loop)
        loop.call_soon(first)
        loop.call_soon(mark, "second")
        await _settle(loop)
        await _settle(loop)
    assert passes == {"first": 0, "second": 0, "child": 1}


async def test_a_self_rescheduling_callback_does_not_starve_trio_tasks(drain: bool) -> None:
    """A callback that keeps rescheduling itself gets about one run per Trio scheduler tick."""
    runs = 0

    def spin() -> None:
        nonlocal runs
        runs += 1
        if runs < 10_000:
            loop.call_soon(spin)

    async with open_loop(drain=drain) as loop:
        loop.call_soon(spin)
        for _ in range(10):
            await trio.lowlevel.checkpoint()
        seen = runs
    # One run per tick over our ten: 9 or 10, as Trio's scheduler (randomly, unseeded) orders the loop's
    # task before or after ours in the last tick.
    assert seen in (9, 10)


async def test_callbacks_see_asyncio_and_trio_tasks_see_trio_in_sniffio(drain: bool) -> None:
    """sniffio reports "asyncio" inside callbacks and "trio" again in Trio code between them."""
    seen: list[str] = []

    async with open_loop(drain=drain) as loop:
        for _ in range(3):
            loop.call_soon(lambda: seen.append(sniffio.current_async_library()))
        await _settle(loop)
        seen.append(sniffio.current_async_library())
    assert seen == ["asyncio", "asyncio", "asyncio", "trio"]


# Timers


async def test_timers_fire_at_their_time_in_deadline_order(drain: bool, autojump_clock: MockClock) -> None:
    """call_later and call_at fire exactly when due, earliest first; a cancelled timer never fires."""
    fired: list[tuple[str, float]] = []

    async with open_loop(drain=drain) as loop:
        start = loop.time()
        loop.call_later(1.5, lambda: fired.append(("later 1.5", loop.time() - start)))
        loop.call_at(start + 0.5, lambda: fired.append(("at 0.5", loop.time() - start)))
        loop.call_later(1.0, fired.append, ("cancelled", 0.0)).cancel()
        await trio.sleep(2)
    assert fired == [("at 0.5", 0.5), ("later 1.5", 1.5)]


async def test_a_due_timer_fires_while_callbacks_keep_the_queue_busy(drain: bool) -> None:
    """A due timer runs within a pass or two even when the queue is never empty."""
    runs = 0
    fired = trio.Event()

    def spin() -> None:
        nonlocal runs
        runs += 1
        if not fired.is_set() and runs < 10_000:
            loop.call_soon(spin)

    async with open_loop(drain=drain) as loop:
        loop.call_soon(spin)
        loop.call_later(0, fired.set)
        with trio.fail_after(5):
            await fired.wait()
    assert runs == 2
