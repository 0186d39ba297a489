"""Component tier: what the broker twin counts without changing anything: statistics() and queue_info."""

from __future__ import annotations

from typing import Any

import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryQueueStatistics
from smstrio.ports import DeadLetter, Delivery, Outgoing, Retry


def _outgoing(count: int) -> list[Outgoing]:
    return [Outgoing(f"m{i}", f"body {i}".encode()) for i in range(count)]


async def test_statistics_count_ready_unacked_delayed_dead_and_consumers(autojump_clock: MockClock) -> None:
    """statistics() says how many messages are ready, unacked, delayed and dead, and how many consumers are on."""
    broker = MemoryBroker()
    await broker.declare("q")
    await broker.publish("q", _outgoing(5))
    send, receive = trio.open_memory_channel[Delivery](2)
    async with send, receive:
        ctag = await broker.consume("q", 2, send)
        first = receive.receive_nowait()
        await broker.retry_later("q", [Retry(b"later", "r1", attempt=2, delay_s=10.0)])
        await broker.dead_letter("q", [DeadLetter(b"bad", "d1", "invalid")])

        assert broker.statistics("q") == MemoryQueueStatistics(ready=3, unacked=2, delayed=1, dead=1, consumers=1)
        assert broker.statistics("other") == MemoryQueueStatistics(ready=0, unacked=0, delayed=0, dead=0, consumers=0)

        await broker.ack([first.tag])
        assert broker.statistics("q") == MemoryQueueStatistics(ready=2, unacked=2, delayed=1, dead=1, consumers=1)

        await broker.cancel(ctag)
        assert broker.statistics("q") == MemoryQueueStatistics(ready=2, unacked=2, delayed=1, dead=1, consumers=0)

        await broker.aclose()
        assert broker.statistics("q") == MemoryQueueStatistics(ready=4, unacked=0, delayed=1, dead=1, consumers=0)


async def test_memory_broker_counts_the_consumers_of_a_queue(queue_name: str) -> None:
    """queue_info counts each consumer of the queue until it is cancelled, and no other queue's."""
    broker = MemoryBroker()
    sink_send, _sink_receive = trio.open_memory_channel[Any](10)
    first = await broker.consume(queue_name, 5, sink_send)
    await broker.consume(queue_name, 5, sink_send)
    await broker.consume("elsewhere", 5, sink_send)
    assert (await broker.queue_info(queue_name)).consumers == 2
    await broker.cancel(first)
    assert (await broker.queue_info(queue_name)).consumers == 1
