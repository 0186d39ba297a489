"""Deliveries without a task each (``smstrio.adapters.amqp.delivery``) against the real RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiormq
import pytest
import trio

from smstrio.adapters.amqp.delivery import deliver_directly
from smstrio.adapters.bridge import cross
from smstrio.testing import AMQP_URL

pytestmark = pytest.mark.services

BODIES = [b"first", b"", b"x" * 300_000, b"last"]
"""Short bodies, an empty one, and one larger than the frame size (several body frames)."""


@pytest.fixture
async def channel(bridge: None, queue_name: str) -> AsyncIterator[aiormq.abc.AbstractChannel]:
    """A channel with deliveries handed over directly, holding the test's queue with ``BODIES`` in it."""
    connection = await cross(aiormq.connect, AMQP_URL)
    ch = await cross(connection.channel, publisher_confirms=True)
    deliver_directly(ch)

    async def fill() -> None:
        await ch.queue_declare(queue_name, auto_delete=True)
        for body in BODIES:
            await ch.basic_publish(body, routing_key=queue_name)

    await cross(fill)
    try:
        yield ch
    finally:

        async def clean() -> None:
            with contextlib.suppress(aiormq.exceptions.AMQPError):
                await (await connection.channel()).queue_delete(queue_name)
            await connection.close()

        await cross(clean)


async def _consume(channel: aiormq.abc.AbstractChannel, queue: str, callback: object) -> None:
    await cross(channel.basic_consume, queue, callback, no_ack=True)


async def test_a_plain_function_is_called_in_the_reader_with_every_body_whole(
    channel: aiormq.abc.AbstractChannel, queue_name: str
) -> None:
    """A synchronous consumer gets each body whole, all from one task (the reader): no task per message."""
    got: list[tuple[bytes, asyncio.Task[object] | None]] = []
    done = trio.Event()

    def deliver(message: aiormq.abc.DeliveredMessage) -> None:
        got.append((message.body, asyncio.current_task()))
        if len(got) == len(BODIES):
            done.set()

    await _consume(channel, queue_name, deliver)
    with trio.fail_after(10):
        await done.wait()
    assert [body for body, _ in got] == BODIES
    assert len({id(task) for _, task in got}) == 1


async def test_a_coroutine_consumer_still_runs_in_a_task_of_its_own(
    channel: aiormq.abc.AbstractChannel, queue_name: str
) -> None:
    """An async consumer on such a channel runs as aiormq runs it: one task per message, bodies whole."""
    got: list[tuple[bytes, asyncio.Task[object] | None]] = []
    done = trio.Event()

    async def deliver(message: aiormq.abc.DeliveredMessage) -> None:
        got.append((message.body, asyncio.current_task()))
        if len(got) == len(BODIES):
            done.set()

    await _consume(channel, queue_name, deliver)
    with trio.fail_after(10):
        await done.wait()
    assert [body for body, _ in got] == BODIES
    assert len({id(task) for _, task in got}) == len(BODIES)
