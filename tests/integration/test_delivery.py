"""Deliveries without a task each (``smstrio.adapters.amqp.delivery``) against the real RabbitMQ."""

from __future__ import annotations

import asyncio

import aiormq
import pytest
import trio

from smstrio.adapters.amqp.delivery import deliver_directly
from smstrio.adapters.bridge import cross

pytestmark = pytest.mark.services

BODIES = [b"first", b"", b"x" * 300_000, b"last"]
"""Short bodies, an empty one, and one larger than the frame size (several body frames)."""


@pytest.fixture
async def filled(channel: aiormq.abc.AbstractChannel, queue_name: str) -> aiormq.abc.AbstractChannel:
    """``channel`` with deliveries handed over directly, holding the test's queue with ``BODIES`` in it."""
    deliver_directly(channel)

    async def fill() -> None:
        await channel.queue_declare(queue_name, auto_delete=True)
        for body in BODIES:
            await channel.basic_publish(body, routing_key=queue_name)

    await cross(fill)
    return channel


async def _consume(channel: aiormq.abc.AbstractChannel, queue: str, callback: object) -> None:
    await cross(channel.basic_consume, queue, callback, no_ack=True)


async def test_a_plain_function_is_called_in_the_reader_with_every_body_whole(
    filled: aiormq.abc.AbstractChannel, queue_name: str
) -> None:
    """A synchronous consumer gets each body whole, all from one task (the reader): no task per message."""
    got: list[tuple[bytes, asyncio.Task[object] | None]] = []
    done = trio.Event()

    def deliver(message: aiormq.abc.DeliveredMessage) -> None:
        got.append((message.body, asyncio.current_task()))
        if len(got) == len(BODIES):
            done.set()

    await _consume(filled, queue_name, deliver)
    with trio.fail_after(10):
        await done.wait()
    assert [body for body, _ in got] == BODIES
    assert len({id(task) for _, task in got}) == 1


async def test_a_coroutine_consumer_still_runs_in_a_task_of_its_own(
    filled: aiormq.abc.AbstractChannel, queue_name: str
) -> None:
    """An async consumer on such a channel runs as aiormq runs it: one task per message, bodies whole."""
    got: list[tuple[bytes, asyncio.Task[object] | None]] = []
    done = trio.Event()

    async def deliver(message: aiormq.abc.DeliveredMessage) -> None:
        got.append((message.body, asyncio.current_task()))
        if len(got) == len(BODIES):
            done.set()

    await _consume(filled, queue_name, deliver)
    with trio.fail_after(10):
        await done.wait()
    assert [body for body, _ in got] == BODIES
    assert len({id(task) for _, task in got}) == len(BODIES)
