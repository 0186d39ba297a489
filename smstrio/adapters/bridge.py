"""The trio-asyncio loop: one per process, opened by the CLI around a role.

Every adapter method crosses the bridge once per call, running one asyncio
coroutine that may do a whole batch of work (a crossing costs about 100 µs here).
The loop runs every ready asyncio callback per pass (see :mod:`smstrio.adapters.loop`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio_asyncio

from smstrio.adapters.loop import open_loop

T = TypeVar("T")


@asynccontextmanager
async def open_bridge() -> AsyncIterator[None]:
    """Run the block with an asyncio loop available to the adapters."""
    async with open_loop():
        yield


async def cross(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Await asyncio coroutine function ``fn`` from Trio: one bridge crossing."""
    result: T = await trio_asyncio.aio_as_trio(fn)(*args, **kwargs)
    return result
