"""What the draining loop's unit tests share: waiting for the queued callbacks, the loop as a draining one."""

from __future__ import annotations

import asyncio

import trio

from smstrio.adapters.loop import DrainingTrioEventLoop


async def _settle(loop: asyncio.AbstractEventLoop) -> None:
    """Wait until every callback queued so far has run."""
    done = trio.Event()
    loop.call_soon(done.set)
    await done.wait()


def _draining(loop: asyncio.AbstractEventLoop) -> DrainingTrioEventLoop:
    assert isinstance(loop, DrainingTrioEventLoop)
    return loop
