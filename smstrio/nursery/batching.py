"""Collect items from a channel into batches, so work that crosses the bridge is done per batch."""

from __future__ import annotations

import contextlib
from typing import TypeVar

import trio

T = TypeVar("T")


async def next_batch(receive: trio.MemoryReceiveChannel[T], max_items: int, *, linger: float = 0.0) -> list[T]:
    """Wait for one item, then take every item already waiting, up to ``max_items``.

    Natural batching: while the caller is busy with one batch, the next one builds
    up, so batches grow with the load. With ``linger`` > 0, a batch that is not full
    once the waiting items are taken goes on collecting until it is full or ``linger``
    seconds have passed, as Kafka's ``linger.ms`` does: many sends finishing at random
    moments then share one batch instead of each paying for its own. Returns an empty
    list only once the channel is closed and drained.
    """
    try:
        batch = [await receive.receive()]
    except trio.EndOfChannel:
        return []
    while len(batch) < max_items:
        try:
            batch.append(receive.receive_nowait())
        except trio.WouldBlock:
            break
        except trio.EndOfChannel:
            return batch
    if linger > 0 and len(batch) < max_items:
        with trio.move_on_after(linger), contextlib.suppress(trio.EndOfChannel):
            while len(batch) < max_items:
                batch.append(await receive.receive())
    return batch
