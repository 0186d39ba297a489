"""Collect items from a channel into batches, so work that crosses the bridge is done per batch."""

from __future__ import annotations

from typing import TypeVar

import trio

T = TypeVar("T")


async def next_batch(receive: trio.MemoryReceiveChannel[T], max_items: int, *, linger: float = 0.0) -> list[T]:
    """Wait for one item, then take every item already waiting, up to ``max_items``.

    Natural batching: while the caller is busy with one batch, the next one builds
    up, so batches grow with the load. With ``linger`` > 0, a batch that is not full
    once the waiting items are taken waits that many seconds once for more, as
    Kafka's ``linger.ms`` does: many sends finishing at random moments then share one
    batch instead of each paying for its own. Returns an empty list only once the
    channel is closed and drained.
    """
    try:
        batch = [await receive.receive()]
    except trio.EndOfChannel:
        return []
    _take_waiting(receive, batch, max_items)
    if linger > 0 and len(batch) < max_items:
        await trio.sleep(linger)
        _take_waiting(receive, batch, max_items)
    return batch


def _take_waiting(receive: trio.MemoryReceiveChannel[T], batch: list[T], max_items: int) -> None:
    while len(batch) < max_items:
        try:
            batch.append(receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return
