"""Collect items from a channel into batches, so work that crosses the bridge is done per batch."""

from __future__ import annotations

from typing import TypeVar

import trio

T = TypeVar("T")


async def next_batch(receive: trio.MemoryReceiveChannel[T], max_items: int) -> list[T]:
    """Wait for one item, then take every item already waiting, up to ``max_items``.

    Natural batching: while the caller is busy with one batch, the next one builds
    up, so batches grow with the load and nothing waits for a timer. Returns an
    empty list only once the channel is closed and drained.
    """
    try:
        batch = [await receive.receive()]
    except trio.EndOfChannel:
        return []
    while len(batch) < max_items:
        try:
            batch.append(receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    return batch
