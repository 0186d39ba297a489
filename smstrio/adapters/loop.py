"""A trio-asyncio loop that runs every ready asyncio callback per pass, not one.

trio-asyncio 0.16's main loop takes exactly one handle per pass: one Trio scheduler
tick and one cancel scope for each asyncio callback (upstream issue #44). A confirmed
publish through smstrio's broker takes about 15 such passes, and profiling showed the
per-pass overhead (cancel scope, channel receive, scheduler) costing more than the
callbacks themselves.

:class:`DrainingTrioEventLoop` keeps the pass but widens it, as asyncio's own
``_run_once`` does. Each pass:

1. yields to the Trio scheduler once: a plain checkpoint when work is ready, else a
   wait for the first handle or the next timer's deadline (the only cancel scope);
2. counts the handles queued at that moment;
3. runs every timer due by then, earliest first;
4. runs that many queued handles in FIFO order (timer handles go to the heap).

Handles queued while the pass runs (``call_soon`` from a callback) wait for the
next pass, so a callback that keeps rescheduling itself cannot starve Trio tasks.
Per handle nothing changes: a cancelled handle is skipped when its turn comes, a
Trio task (``AsyncHandle``) is started and waited for before the next handle, and
an error reaches the loop's exception handler, as before. Handles are taken off the
queue one at a time, so when a callback ends the loop (``stop()``) the rest stay
queued for the stock shutdown path, which this class leaves untouched.

The class relies on trio-asyncio internals, so it is pinned: under any version but
0.16.x, :func:`open_loop` falls back to the stock loop and logs a warning once.

Hook: ``trio_asyncio.open_loop()`` builds its ``TrioEventLoop`` itself and takes no
loop class. Rather than patching trio-asyncio's module globals for the whole process
or copying its 150 lines of shutdown logic, :func:`open_loop` re-classes the one loop
it opened (:meth:`DrainingTrioEventLoop.adopt`). The subclass adds methods and
class-level counters only, so the switch is layout-safe; the main-loop task looks
``_main_loop_one`` up on every pass, so it drains from its next pass on, which
:func:`open_loop` waits for before it yields. Upstream, the same body would simply
replace ``BaseTrioEventLoop._main_loop_one``.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import trio
import trio_asyncio
from sniffio import thread_local as sniffio_library

from smstrio.core.logs import event

try:
    from trio_asyncio._handles import AsyncHandle
except ImportError:  # pragma: no cover - moved in a later trio-asyncio, which SUPPORTED refuses anyway
    AsyncHandle = None

log = logging.getLogger(__name__)

SUPPORTED_SERIES: Final = (0, 16)
"""The trio-asyncio release series whose internals :class:`DrainingTrioEventLoop` was written against."""


def supports(version: str) -> bool:
    """Whether trio-asyncio ``version`` belongs to :data:`SUPPORTED_SERIES`."""
    try:
        series = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return series == SUPPORTED_SERIES


TRIO_ASYNCIO_VERSION: Final[str] = trio_asyncio.__version__
SUPPORTED: Final = supports(TRIO_ASYNCIO_VERSION) and AsyncHandle is not None
"""Whether the installed trio-asyncio can run the draining loop (checked once, at import)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopStatistics:
    """What a draining loop has done since it was adopted."""

    passes: int
    """Passes of the main loop: Trio scheduler ticks taken."""
    handles: int
    """Handles taken off the queue or the timer heap (cancelled ones included)."""
    largest_pass: int
    """The most handles taken in one pass."""


class DrainingTrioEventLoop(trio_asyncio.TrioEventLoop):  # type: ignore[misc]  # trio-asyncio ships no types
    """A ``TrioEventLoop`` whose passes run every handle that was ready when the pass began."""

    # Class-level defaults: adopt() re-classes a live loop, so __init__ never runs.
    _drain_passes = 0
    _drain_handles = 0
    _drain_largest = 0

    @classmethod
    def adopt(cls, loop: Any) -> DrainingTrioEventLoop:
        """Make ``loop``, a stock ``TrioEventLoop`` from ``trio_asyncio.open_loop()``, drain from its next pass."""
        if type(loop) is not trio_asyncio.TrioEventLoop:
            raise TypeError(f"can only adopt a stock trio_asyncio.TrioEventLoop, not {type(loop).__name__}")
        loop.__class__ = cls
        adopted: DrainingTrioEventLoop = loop
        return adopted

    def statistics(self) -> LoopStatistics:
        """The loop's counters, as an immutable snapshot."""
        return LoopStatistics(passes=self._drain_passes, handles=self._drain_handles, largest_pass=self._drain_largest)

    def call_soon(self, callback: Any, *args: Any, context: Any = None) -> asyncio.Handle:
        """Queue ``callback(*args)``, checking it is no coroutine only in debug mode, as asyncio's own loops do.

        trio-asyncio checks every callback (``iscoroutine`` and ``iscoroutinefunction``),
        which was 4% of a confirmed publish; a coroutine passed here is a bug asyncio's
        debug mode catches.
        """
        if self.get_debug():
            self._check_callback(callback, "call_soon")
        handle: asyncio.Handle = self._queue_handle(asyncio.Handle(callback, args, self, context=context))
        return handle

    async def _main_loop_one(self, no_wait: bool = False) -> None:
        if no_wait:
            # Only the shutdown path drains without waiting; keep trio-asyncio's own steps there.
            await super()._main_loop_one(no_wait=True)
            return
        timers: list[asyncio.TimerHandle] = self._timers
        queue: trio.MemoryReceiveChannel[asyncio.Handle] = self._q_recv
        first: asyncio.Handle | None
        try:
            first = queue.receive_nowait()
        except trio.WouldBlock:
            first = None
        if first is not None or (timers and timers[0].when() <= self.time()):
            await trio.lowlevel.checkpoint()  # shielded by _main_loop: one scheduler tick, never Cancelled
        else:
            with trio.move_on_at(timers[0].when() if timers else math.inf):
                first = await queue.receive()
        queued = queue.statistics().current_buffer_used
        now = self.time()
        taken = 0
        while timers and timers[0].when() <= now:
            self._run_handle(heapq.heappop(timers))
            taken += 1
        if first is not None:
            await self._dispatch(first)
            taken += 1
        for _ in range(queued):
            await self._dispatch(queue.receive_nowait())
            taken += 1
        self._drain_passes += 1
        self._drain_handles += taken
        self._drain_largest = max(self._drain_largest, taken)

    async def _dispatch(self, handle: asyncio.Handle) -> None:
        """Run one handle taken off the queue, as trio-asyncio's own pass does."""
        if isinstance(handle, asyncio.TimerHandle):
            heapq.heappush(self._timers, handle)
        elif isinstance(handle, AsyncHandle):
            # A Trio task: start it in the loop's nursery, in the handle's context, before the next handle.
            handle._context.run(self._nursery.start_soon, handle._run, name=handle._callback)
            await handle._started.wait()
        else:
            self._run_handle(handle)

    @staticmethod
    def _run_handle(handle: asyncio.Handle) -> None:
        if handle.cancelled():
            return
        previous, sniffio_library.name = sniffio_library.name, "asyncio"
        try:
            handle._run()
        finally:
            sniffio_library.name = previous


@functools.cache
def _warn_unsupported() -> None:
    event(
        log,
        "trio-asyncio version not supported by the draining loop; using the stock loop",
        level=logging.WARNING,
        version=TRIO_ASYNCIO_VERSION,
        supported=".".join(map(str, SUPPORTED_SERIES)) + ".x",
    )


@asynccontextmanager
async def open_loop(*, drain: bool = True) -> AsyncIterator[asyncio.AbstractEventLoop]:
    """``trio_asyncio.open_loop()``, draining ready callbacks per pass unless ``drain`` is false.

    Under an unsupported trio-asyncio the stock loop is used, with a warning logged once per process.
    """
    async with trio_asyncio.open_loop() as loop:
        if drain:
            if SUPPORTED:
                DrainingTrioEventLoop.adopt(loop)
                # The main loop may be parked in a stock pass; let it finish, so every pass from here drains.
                await loop.synchronize()
            else:
                _warn_unsupported()
        yield loop
