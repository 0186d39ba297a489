"""Fixtures of the contract tier: each port's tests run on its in-memory twin and on its real adapter.

Every test runs twice: ``[memory]`` on the twin in Trio's virtual time (an autojumping
``MockClock``), ``[real]`` on RabbitMQ or Redis in wall time (marked ``services``: skipped
without the servers, failing when ``CI`` is set). The clock is the one difference the
tests see, and it lives in :class:`~tests.contract.world.World`: ``world.now()`` is what the
adapter measures time on, ``world.advance(s)`` lets ``s`` seconds pass (a jump for the twin,
a sleep for the real services). Each run, fixtures included, is capped at ``CAP_S`` on its clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.adapters.redis.store import RedisStore
from smstrio.ports import Broker, StatsStore
from smstrio.testing import AMQP_URL, REDIS_URL, delete_queues
from tests.contract.world import MEMORY, REAL, World


@pytest.fixture(
    params=[
        pytest.param(MEMORY, id="memory", marks=pytest.mark.trio(run=MEMORY.run)),
        pytest.param(REAL, id="real", marks=[pytest.mark.services, pytest.mark.trio(run=REAL.run)]),
    ]
)
def world(request: pytest.FixtureRequest) -> World:
    """The twins in virtual time, then the real services in wall time."""
    world: World = request.param
    return world


@pytest.fixture
async def broker(world: World, queue_name: str) -> AsyncIterator[Broker]:
    """A broker with ``queue_name`` declared and watched, as a sender does; the real queues are deleted afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        b: Broker
        if world.name == "memory":
            b = MemoryBroker()
        else:
            await stack.enter_async_context(open_bridge())
            b = await AmqpBroker.connect(AMQP_URL, name="smstrio contract tests")
            stack.push_async_callback(delete_queues, queue_name)
            stack.push_async_callback(b.aclose)
        await b.declare(queue_name)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(b.watch)
            yield b
            nursery.cancel_scope.cancel()


@pytest.fixture
async def store(world: World, queue_name: str) -> AsyncIterator[StatsStore]:
    """A stats store for ``queue_name``; the real one's keys are deleted afterwards."""
    if world.name == "memory":
        yield MemoryStore(clock=trio.current_time)
        return
    async with open_bridge():
        real = await RedisStore.connect(REDIS_URL, queue_name, prefix="smstrio-contract")
        try:
            yield real
        finally:
            await real.reset()
            await real.aclose()
