"""The simulated SMS gateway: waits a drawn time, then fails with the configured probability."""

from __future__ import annotations

import random

import trio

from smstrio.distributions import Sampler
from smstrio.message import Sms


class SimulatedGateway:
    """A :class:`~smstrio.ports.Gateway` that sleeps ``sample()`` seconds per send."""

    def __init__(self, sample: Sampler, failure_rate: float, rng: random.Random) -> None:
        self._sample = sample
        self._failure_rate = failure_rate
        self._rng = rng

    async def send(self, sms: Sms) -> bool:
        await trio.sleep(self._sample())
        return self._rng.random() >= self._failure_rate
