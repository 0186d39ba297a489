"""Component tier: what a sender announces of itself in its heartbeat, by the gateway it sends through."""

from __future__ import annotations

import random

import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.core.gateway import GatewaySettings
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.sender import Sender, run_sender


async def test_an_http_sender_announces_its_gateway_and_no_simulated_settings(
    autojump_clock: MockClock, queue_name: str
) -> None:
    """A sender through an HTTP gateway is listed as http, with no mean, failure rate or distribution."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    gateway_settings = GatewaySettings(kind="http", url="http://127.0.0.1:9/sms")
    settings = SenderSettings(common=Common(queue=queue_name), workers=3, gateway=gateway_settings)
    rng = random.Random(1)
    stand_in = SimulatedGateway(sampler(Distribution.CONSTANT, 0.1, rng), 0.0, rng)  # sends nothing here

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            sender: Sender = await nursery.start(run_sender, settings, broker, store, stand_in)
            (info,) = (await store.view()).senders
            sender.stop()

    assert (info.gateway, info.workers) == ("http", 3)
    assert (info.mean_s, info.failure_rate, info.distribution) == (None, None, None)
