"""Component tests: a queue the broker lost is said out loud on reconnect, then declared again."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.core.message import encode, random_sms
from smstrio.core.stats import Outcome, OutcomeRecord
from smstrio.ports import Outgoing
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.redeclare import QUEUE_LOST, declare_again
from smstrio.roles.sender import Sender, run_sender

RUN = "0123456789ab"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == QUEUE_LOST]


async def _confirmed(store: MemoryStore, confirmed: int, counted: int) -> None:
    await store.add_produced(RUN, list(range(confirmed)))
    await store.record([OutcomeRecord(outcome=Outcome.SENT, run=RUN, seq=seq) for seq in range(counted)])


async def test_a_queue_still_there_is_declared_without_a_word(
    queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """declare_again on a queue the broker has logs nothing."""
    caplog.set_level(logging.INFO, logger="smstrio.roles.redeclare")
    broker = MemoryBroker()
    await broker.declare(queue_name)
    await declare_again(broker, queue_name, MemoryStore(clock=trio.current_time))
    assert _warnings(caplog) == []


async def test_a_lost_queue_is_warned_with_the_ledger_then_declared(
    queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A queue gone on reconnect: one warning with what was confirmed and not counted, then the queue exists."""
    caplog.set_level(logging.INFO, logger="smstrio.roles.redeclare")
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _confirmed(store, confirmed=10, counted=4)
    await declare_again(broker, queue_name, store)
    assert _warnings(caplog) == [{"lost_queue": queue_name, "confirmed": 10, "not_counted": 6, "see": "smstrio audit"}]
    assert await broker.exists(queue_name)


async def test_a_sender_whose_queue_vanished_says_so_and_consumes_again(
    autojump_clock: MockClock, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender reconnecting to a broker that lost its queue warns once, declares it and goes on consuming."""
    caplog.set_level(logging.INFO, logger="smstrio")
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    rng = random.Random(1)
    sms = [random_sms(rng, run=RUN, seq=seq, created_at=0.0) for seq in range(6)]
    await broker.publish(queue_name, [Outgoing(m.message_id, encode(m)) for m in sms])
    await store.add_produced(RUN, list(range(6)))
    settings = SenderSettings(
        common=Common(queue=queue_name), workers=2, mean=1.0, failure_rate=0.0, distribution=Distribution.CONSTANT
    )
    gateway = SimulatedGateway(sampler(settings.distribution, settings.mean, rng), 0.0, rng)
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            sender: Sender = await nursery.start(run_sender, settings, broker, store, gateway)
            await trio.sleep(1.5)  # two sent, two in hand, two ready
            broker.drop()
            del broker.queues[queue_name]  # the broker came back without the queue: what it held is gone
            await trio.sleep(5)
            sender.stop()
    assert [(w["lost_queue"], w["confirmed"]) for w in _warnings(caplog)] == [(queue_name, 6)]
    assert "consuming again" in [r.getMessage() for r in caplog.records]
    assert await broker.exists(queue_name)
