"""One sender's :class:`~smstrio.roles.throttle.Throttle` as the kernel steps it: the same slots, at the same times.

A free worker comes for its turn (:meth:`LaneThrottle.free`). If the next slot of each limit has come
(within ``EARLY_S``) it takes them at once; with no fleet slot left it first asks the store for a grant.
Otherwise it queues at the gate, which one worker at a time holds: it takes the sender's own next slot
and waits for it, then the fleet's next one and waits for that. With its turn taken, a worker takes the
next delivery the sender holds, or waits for one; a worker whose turn went by (``STALE_S``) while it
waited for a delivery takes a fresh turn, the delivery in hand. Far below the limits a worker that took
its slots asks for the next grant once fewer than half a grant are left. The slot arithmetic is
:mod:`smstrio.core.ratelimit`'s; the fleet's state is the store's, one for every sender.

A grant from the store takes no virtual time, so it is taken as given at once.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from smstrio.core.ratelimit import Gcra, Grant, next_slot, reserve
from smstrio.roles.throttle import EARLY_S, HORIZON_S, STALE_S

IDLE, LOCAL_WAIT, FLEET_WAIT = range(3)
"""The gate's phases: free; its holder waiting for the sender's own slot; waiting for the fleet's."""


class Fleet:
    """The fleet limit every sender shares, as the store keeps it (``limit.lua``, the memory twin)."""

    def __init__(self, limit: Gcra) -> None:
        self.limit = limit
        self.tat_us = 0

    def reserve(self, now: float, want: int) -> Grant:
        self.tat_us, grant = reserve(self.tat_us, round(now * 1e6), want, self.limit, round(HORIZON_S * 1e6))
        return grant


class LaneThrottle:
    """One sender's limits. ``take`` hands the next delivery the sender holds (``None``: none), ``start``
    starts a send of a message at a time, ``wake`` asks for :meth:`woken` at a time."""

    def __init__(
        self,
        local: Gcra | None,
        fleet: Fleet | None,
        want: int,
        *,
        take: Callable[[], int | None],
        start: Callable[[int, float], None],
        wake: Callable[[float], None],
    ) -> None:
        self.local, self.fleet, self.want = local, fleet, want
        self._take, self._start, self._wake = take, start, wake
        self.tat_us = 0
        self.slots: collections.deque[float] = collections.deque()
        self.waiting: collections.deque[float] = collections.deque()
        """Workers that took their turn and wait for a delivery: when each turn was due, in order."""
        self.queue: collections.deque[int | None] = collections.deque()
        """Workers waiting for the gate, each with the message it carries after a stale turn, if any."""
        self.phase = IDLE
        self._holder: int | None = None
        self._due = 0.0
        self.carried = 0
        """Deliveries in the hands of workers taking a fresh turn: unacknowledged, as held ones are."""

    def free(self, now: float, carry: int | None = None) -> None:
        """A worker comes for its turn at ``now`` (with ``carry`` in hand after a turn that went by)."""
        due = self._take_if_due(now)
        if due is None and self.fleet is not None and not self.slots:
            self._refill(now)
            due = self._take_if_due(now)
        if due is None:
            self.carried += carry is not None
            self.queue.append(carry)
            self._next_at_gate(now)
            return
        if self.fleet is not None and len(self.slots) < self.want // 2:
            self._refill(now)
        self._turned(due, now, carry)

    def deliver(self, message: int, now: float) -> bool:
        """Hand ``message`` to the first worker waiting with its turn; ``False`` when none waits."""
        if not self.waiting:
            return False
        due = self.waiting.popleft()
        if now - due > STALE_S:
            self.free(now, message)
        else:
            self._start(message, now)
        return True

    def woken(self, now: float) -> None:
        """The gate holder's wait ended at ``now``."""
        if self.phase == LOCAL_WAIT:
            self._gate_fleet(now, self._due)
        else:
            self._gate_done(now, self._due)

    def _turned(self, due: float, now: float, carry: int | None) -> None:
        if carry is None:
            carry = self._take()
            if carry is None:
                self.waiting.append(due)
                return
        self._start(carry, now)

    def _take_if_due(self, now: float) -> float | None:
        due = now
        if self.fleet is not None:
            self._drop_stale(now)
            if not self.slots or self.slots[0] > now + EARLY_S:
                return None
            due = self.slots[0]
        if self.local is not None:
            tat_us, due_us = next_slot(self.tat_us, round(now * 1e6), self.local)
            if due_us / 1e6 > now + EARLY_S:
                return None
            self.tat_us, due = tat_us, max(due, due_us / 1e6)
        if self.fleet is not None:
            self.slots.popleft()
        return due

    def _next_at_gate(self, now: float) -> None:
        if self.phase != IDLE or self._holder is not None or not self.queue:
            return
        self._holder = -1 if (carry := self.queue.popleft()) is None else carry
        due = now
        if self.local is not None:
            self.tat_us, due_us = next_slot(self.tat_us, round(now * 1e6), self.local)
            due = due_us / 1e6
            if due - now > EARLY_S:
                self.phase, self._due = LOCAL_WAIT, due
                self._wake(due)
                return
        self._gate_fleet(now, due)

    def _gate_fleet(self, now: float, due: float) -> None:
        if self.fleet is not None:
            self._drop_stale(now)
            if not self.slots:
                self._refill(now)
            slot = self.slots.popleft()
            due = max(due, slot)
            if slot - now > EARLY_S:
                self.phase, self._due = FLEET_WAIT, due
                self._wake(slot)
                return
        self._gate_done(now, due)

    def _gate_done(self, now: float, due: float) -> None:
        holder, self._holder, self.phase = self._holder, None, IDLE
        self.carried -= holder != -1
        self._turned(due, now, None if holder == -1 else holder)
        self._next_at_gate(now)

    def _drop_stale(self, now: float) -> None:
        stale = now - STALE_S
        while self.slots and self.slots[0] < stale:
            self.slots.popleft()

    def _refill(self, now: float) -> None:
        assert self.fleet is not None
        grant = self.fleet.reserve(now, self.want)
        self.slots.extend(now + grant.delay_us(k) / 1e6 for k in range(grant.count))
