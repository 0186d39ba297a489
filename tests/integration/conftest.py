"""Fixtures the integration tier's aiormq tests share."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiormq
import pytest

from smstrio.adapters.bridge import cross
from smstrio.testing import AMQP_URL


@pytest.fixture
async def channel(bridge: None, queue_name: str) -> AsyncIterator[aiormq.abc.AbstractChannel]:
    """A confirm-mode channel on its own connection; the test's queue is deleted afterwards."""
    connection = await cross(aiormq.connect, AMQP_URL)
    ch = await cross(connection.channel, publisher_confirms=True)
    try:
        yield ch
    finally:

        async def clean() -> None:
            with contextlib.suppress(aiormq.exceptions.AMQPError):
                await (await connection.channel()).queue_delete(queue_name)
            await connection.close()

        await cross(clean)
