"""Racing a call against a graceful stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, TypeVarTuple

import trio

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


async def unless_stopped(stop: trio.Event, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T | None:
    """``await fn(*args)``; or, once ``stop`` is set (also before the call), cancel it and return None."""
    if stop.is_set():
        return None
    result: T | None = None
    async with trio.open_nursery() as nursery:

        async def call() -> None:
            nonlocal result
            result = await fn(*args)
            nursery.cancel_scope.cancel()

        async def stopped() -> None:
            await stop.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(call)
        nursery.start_soon(stopped)
    return result
