"""What the sender's component tests share: settings, messages, a drain with a cap, a recording gateway."""

from __future__ import annotations

import random
from typing import Any

import trio

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.core.message import Sms, encode, random_sms
from smstrio.ports import Gateway, Outgoing
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.sender import run_sender

RUN = "0123456789ab"


CAP_S = 600.0
"""A virtual-time cap on each sender run, so that a sender that never stops fails the test instead of hanging it."""


def _settings(queue: str, **overrides: Any) -> SenderSettings:
    fields: dict[str, Any] = {
        "workers": 4,
        "mean": 1.0,
        "failure_rate": 0.0,
        "distribution": Distribution.CONSTANT,
        "batch_linger": 0.0,  # exact virtual times below; the linger has tests of its own
    }
    fields.update(overrides)
    return SenderSettings(common=Common(queue=queue), **fields)


def _simulated(settings: SenderSettings, seed: int = 1) -> SimulatedGateway:
    rng = random.Random(seed)
    return SimulatedGateway(sampler(settings.distribution, settings.mean, rng), settings.failure_rate, rng)


def _messages(count: int, seed: int = 1) -> list[Outgoing]:
    rng = random.Random(seed)
    sms = (random_sms(rng, run=RUN, seq=seq, created_at=0.0) for seq in range(count))
    return [Outgoing(m.message_id, encode(m)) for m in sms]


async def _publish(broker: MemoryBroker, queue: str, count: int) -> list[str]:
    messages = _messages(count)
    await broker.publish(queue, messages)
    return [m.message_id for m in messages]


async def _drain(settings: SenderSettings, broker: MemoryBroker, store: MemoryStore, gateway: Gateway) -> None:
    with trio.fail_after(CAP_S):
        await run_sender(settings, broker, store, gateway)


def _ready_ids(broker: MemoryBroker, queue: str) -> list[str | None]:
    return [message_id for message_id, _, _ in broker.queues.get(queue, ())]


class RecordingGateway:
    """Wraps a gateway; remembers what it sent, when each send ended, and the most sends at once."""

    def __init__(self, inner: Gateway) -> None:
        self._inner = inner
        self.sent: list[str] = []
        self.ended_at: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, sms: Sms) -> bool:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            delivered = await self._inner.send(sms)
        finally:
            self.in_flight -= 1
        self.sent.append(sms.message_id)
        self.ended_at.append(trio.current_time())
        return delivered

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._inner.run(task_status=task_status)
