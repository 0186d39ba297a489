"""A sender's throughput limits on the Trio side: its own (``--rate-limit``) and the fleet's (``--fleet-rate-limit``).

Both are GCRA (:mod:`smstrio.core.ratelimit`). This process's own limit runs here on Trio's
clock with no I/O. The fleet limit lives in the store (one Redis script for every sender of the
queue), asked for in grants of up to ``batch`` slots due within ``HORIZON_S``, so that a sender far
below the limit crosses to Redis once per ``batch`` messages, not per message.

Workers wait for their turn without holding deliveries they cannot send: a worker takes its next
slot of each limit, waits until it is due, and only then takes a delivery. Waiting workers pass a
gate one at a time, so slots are taken in the order they come due; far below the limits a worker
whose slots have come takes them at once without the gate (no sleep, no scheduler pass of its own).
A worker that finds no delivery waits for one holding its slot; if the slot went by meanwhile
(the queue was empty), it takes a fresh turn, so slots held through a quiet spell never add up to
a burst. The stale slot is not given back: it lies in the past, which the next slot's time forgets
anyway (a fleet slot is lost then, while this sender had nothing to send).
"""

from __future__ import annotations

import collections
import functools
import math
from dataclasses import dataclass

import trio

from smstrio.core.config import SenderSettings
from smstrio.core.errors import StoreError
from smstrio.core.ratelimit import Gcra, next_slot
from smstrio.nursery.retry import retry
from smstrio.ports import Delivery, FleetLimiter

HORIZON_S = 0.1
"""A fleet grant holds only slots due within this many seconds (but one at least)."""
EARLY_S = 0.0001
"""A slot due within this many seconds counts as come: far below the limit, slots are microseconds apart, and
sleeping for each would cost more than the wait (at most this early: 0.1 ms, 2% of a slot at 200/s)."""
MAX_GRANT = 1000
"""The most fleet slots asked for at once: far below the limit, one Redis call per grant; this many per call
leave the call's cost (0.36 ms of CPU here, measured over 1,000 calls) under 1 µs per message."""
STALE_S = HORIZON_S
"""Fleet slots already this far in the past when their turn comes are dropped: the sender was idle, not
limited, and spending them together would send a burst above the limit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleStatistics:
    """What the limits cost one sender so far."""

    waited_us: int
    """Time the next send waited for a slot, in all (µs): the gate holder's waits for its slot, and grants of
    fleet slots asked for while none was left; about a second a second while the limit holds the sender back."""
    grants: int
    """Grants of fleet slots asked from the store (one crossing each)."""


class Throttle:
    """Where a sender's workers take their turns under its rate limits, each before its next delivery."""

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
        self._refilling: trio.Event | None = None
        self._waited_us = 0
        self._grants = 0

    @classmethod
    def batch_for(cls, rate: float, workers: int = 1) -> int:
        """Fleet slots to ask for at once: ``HORIZON_S`` of the rate, at most ``MAX_GRANT``, whatever the ``workers``
        (grants of one per worker cost a Redis call every few messages far below the limit)."""
        del workers
        return max(1, min(MAX_GRANT, math.ceil(rate * HORIZON_S)))

    def statistics(self) -> ThrottleStatistics:
        return ThrottleStatistics(waited_us=self._waited_us, grants=self._grants)

    async def receive(self, deliveries: trio.MemoryReceiveChannel[Delivery]) -> Delivery:
        """Take the next turn under both limits, then the next delivery (``EndOfChannel`` at the end)."""
        due = await self._turn()
        try:
            delivery = deliveries.receive_nowait()
        except trio.WouldBlock:
            delivery = await deliveries.receive()
            if trio.current_time() - due > STALE_S:  # the turn went by while the queue was empty: take another
                await self._turn()
        else:
            await trio.lowlevel.checkpoint()
        return delivery

    async def _turn(self) -> float:
        """Take this worker's next slot of each limit, waiting for it if need be; return when it was due."""
        due = self._take_if_due()  # whoever holds the gate waits for a later slot, not for this one
        if due is None:
            return await self._wait_for_turn()
        if self._fleet is not None and len(self._slots) < self._want // 2 and self._refilling is None:
            await self._refill(waiting=False)  # before the slots run out, so that no worker waits for it
        return due

    async def _wait_for_turn(self) -> float:
        """Wait for fleet slots if none is left, then, one worker at a time, until the next slots are due."""
        while self._fleet is not None and not self._slots:
            await self._refill(waiting=True)
            due = self._take_if_due()
            if due is not None:
                return due
        async with self._gate:
            asked = due = trio.current_time()
            if self._local is not None:
                self._tat_us, due_us = next_slot(self._tat_us, round(due * 1e6), self._local)
                due = due_us / 1e6
                await _until(due)
            if self._fleet is not None:
                fleet_due = await self._fleet_slot()
                await _until(fleet_due)
                due = max(due, fleet_due)
            self._waited_us += round((trio.current_time() - asked) * 1e6)
            return due

    def _take_if_due(self) -> float | None:
        """Take the next slot of each limit if all have come (within ``EARLY_S``) and return when; else take none.

        The way far below the limits: no gate, no sleep, so many workers can start in one scheduler pass.
        """
        now = trio.current_time()
        due = now
        slots = self._slots
        if self._fleet is not None:
            while slots and slots[0] < now - STALE_S:
                slots.popleft()
            if not slots or slots[0] > now + EARLY_S:
                return None
            due = slots[0]
        if self._local is not None:
            tat_us, due_us = next_slot(self._tat_us, round(now * 1e6), self._local)
            if due_us > (now + EARLY_S) * 1e6:
                return None
            self._tat_us, due = tat_us, max(due, due_us / 1e6)
        if self._fleet is not None:
            slots.popleft()
        return due

    async def _fleet_slot(self) -> float:
        """The time the next fleet slot is due, asking the store for more when none is left."""
        while not self._slots:
            await self._refill(waiting=False)  # the gate holder's wait counts it
        return self._slots.popleft()

    async def _refill(self, *, waiting: bool) -> None:
        """Ask the store for the next grant of fleet slots; while one is asked for, wait for it instead.

        ``waiting``: no slot is left, so the sends wait for this grant; its time counts as waited.
        """
        if self._refilling is not None:
            await self._refilling.wait()
            return
        self._refilling = done = trio.Event()
        asked = trio.current_time()
        try:
            assert self._limiter is not None
            assert self._fleet is not None
            ask = functools.partial(self._limiter.reserve_slots, self._want, self._fleet, self._horizon_us)
            grant = await retry(ask, what="reserving fleet slots", errors=(StoreError,))
            self._grants += 1
            answered = trio.current_time()
            self._slots.extend(answered + grant.delay_us(k) / 1e6 for k in range(grant.count))
            if waiting:
                self._waited_us += round((answered - asked) * 1e6)
        finally:
            self._refilling = None
            done.set()


async def _until(due: float) -> None:
    """Sleep until ``due`` unless it is less than ``EARLY_S`` away: ``trio.sleep_until`` costs a cancel scope
    and a ``Cancelled`` caught, about 40 µs of CPU here, even for a deadline that has passed."""
    if due - trio.current_time() > EARLY_S:
        await trio.sleep_until(due)


def throttle_for(s: SenderSettings, fleet: FleetLimiter | None) -> Throttle | None:
    """The gate of this sender's rate limits; ``None`` without one (workers then take deliveries freely)."""
    if s.rate_limit is None and s.fleet_rate_limit is None:
        return None
    if s.fleet_rate_limit is not None and fleet is None:
        raise ValueError("a fleet rate limit needs the FleetLimiter (the stats store) to share it through")
    return Throttle(
        local=Gcra(rate=s.rate_limit) if s.rate_limit is not None else None,
        fleet=Gcra(rate=s.fleet_rate_limit) if s.fleet_rate_limit is not None else None,
        limiter=fleet,
        batch=Throttle.batch_for(s.fleet_rate_limit or 1.0),
    )
