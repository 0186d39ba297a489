"""A sender's throughput limits on the Trio side: its own (``--rate-limit``) and the fleet's (``--fleet-rate-limit``).

Both are GCRA (:mod:`smstrio.core.ratelimit`). This process's own limit runs here on Trio's
clock with no I/O. The fleet limit lives in the store (one Redis script for every sender of the
queue), asked for in grants of up to ``batch`` slots due within ``HORIZON_S``, so that a sender far
below the limit crosses to Redis once per ``batch`` messages, not per message.

Workers take turns without holding deliveries they cannot send: one worker at a time holds the
gate, waits for the next slot, takes the delivery it is for and lets the next worker in; the
others wait at the gate holding nothing. So a slot is never spent on a delivery that waits for
a worker, and a worker never keeps a delivery while the limit makes it wait.
"""

from __future__ import annotations

import collections
import functools
import math
from dataclasses import dataclass

import trio

from smstrio.core.errors import StoreError
from smstrio.core.ratelimit import Gcra, next_slot
from smstrio.nursery.retry import retry
from smstrio.ports import Delivery, FleetLimiter

HORIZON_S = 0.1
"""A fleet grant holds only slots due within this many seconds (but one at least)."""
STALE_S = HORIZON_S
"""Fleet slots already this far in the past when their turn comes are dropped: the sender was idle, not
limited, and spending them together would send a burst above the limit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleStatistics:
    """What the limits cost one sender so far."""

    waited_us: int
    """Time the next send waited for a slot, in all (µs): about a second a second while the limit holds it back."""
    grants: int
    """Grants of fleet slots asked from the store (one crossing each)."""


class Throttle:
    """The gate a sender's workers pass, one at a time, to take their next delivery."""

    def __init__(self, *, local: Gcra | None, fleet: Gcra | None, limiter: FleetLimiter | None, batch: int) -> None:
        if fleet is not None and limiter is None:
            raise ValueError("a fleet limit needs a FleetLimiter")
        self._local = local
        self._fleet = fleet
        self._limiter = limiter
        self._want = max(1, batch)
        self._horizon_us = round(HORIZON_S * 1e6)
        self._gate = trio.Lock()
        self._tat_us = 0
        self._slots: collections.deque[float] = collections.deque()
        self._waited_us = 0
        self._grants = 0

    @classmethod
    def batch_for(cls, rate: float, workers: int) -> int:
        """Slots to ask for at once: what the workers can use, and no more than ``HORIZON_S`` of the rate."""
        return max(1, min(workers, math.ceil(rate * HORIZON_S)))

    def statistics(self) -> ThrottleStatistics:
        return ThrottleStatistics(waited_us=self._waited_us, grants=self._grants)

    async def receive(self, deliveries: trio.MemoryReceiveChannel[Delivery]) -> Delivery:
        """Wait for the next turn under both limits, then take the next delivery (``EndOfChannel`` at the end)."""
        async with self._gate:
            asked = trio.current_time()
            if self._local is not None:
                self._tat_us, due_us = next_slot(self._tat_us, round(asked * 1e6), self._local)
                await trio.sleep_until(due_us / 1e6)
            if self._fleet is not None:
                await trio.sleep_until(await self._fleet_slot())
            self._waited_us += round((trio.current_time() - asked) * 1e6)
            return await deliveries.receive()

    async def _fleet_slot(self) -> float:
        """The time the next fleet slot is due, asking the store for more when none is left."""
        stale = trio.current_time() - STALE_S
        while self._slots and self._slots[0] < stale:
            self._slots.popleft()
        if not self._slots:
            assert self._limiter is not None
            assert self._fleet is not None
            ask = functools.partial(self._limiter.reserve_slots, self._want, self._fleet, self._horizon_us)
            grant = await retry(ask, what="reserving fleet slots", errors=(StoreError,))
            self._grants += 1
            answered = trio.current_time()
            self._slots.extend(answered + grant.delay_us(k) / 1e6 for k in range(grant.count))
        return self._slots.popleft()
