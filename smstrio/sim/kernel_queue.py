"""The kernel's general loop: one queue that retries come back to, shared by any number of senders, under
rate limits.

:mod:`smstrio.sim.kernel` takes this loop when some sender retries (``max_attempts`` above 1) or a rate limit
is set; its own loops, faster, serve the campaigns where every message is sent once, freely. It models
what the simulation does in virtual time with :func:`smstrio.roles.attempt.attempt`, the sender's
:class:`~smstrio.roles.throttle.Throttle` and the in-memory broker and store:

- a send that fails before the sender's last attempt is counted as retried and goes to the retry
  queue for ``retry_delay * 2**(attempt - 1)`` seconds; that queue is first in, first out, as
  RabbitMQ's dead-lettering of expired messages: a retry comes back into the queue when it is due
  and every retry ahead of it came back (the latest of its due time and theirs);
- back in the queue, it waits behind every message there, loaded or arrived before
  (the simulation holds back retries while its producer is still loading, for the same order);
- the broker hands a message that enters an empty queue to the first sender listed with room
  (fewer than its prefetch unacknowledged), and at each acknowledgement the next in the queue to
  the sender that acknowledged; a sender's free worker takes what it holds, in order;
- under a limit (:class:`Gate`), a sender's free workers pass its gate one at a time: each waits for the
  next slot of the sender's own GCRA, then of the fleet's (the same :mod:`smstrio.core.ratelimit`
  arithmetic, in grants of slots as the store hands them out), then takes the next message it holds or
  waits for one; its prefetch is the one a limit gives (``SenderSettings.effective_prefetch``);
- a message's latency runs from its creation to the end of its last send; its first send's start
  is what the deepest queue counts (retries waiting are not counted).

Events at the same instant: arrivals, then retries coming back, then gates' waits ending, then
completions. Messages that start at the same instant on one sender draw their send times in the
order of the queue, where Trio wakes the workers in an order of its own: when they differ (a first
attempt and a retry, or different arrival times), shares may differ by a send between the kernel and
a simulation.
"""

from __future__ import annotations

import collections
import heapq
import math
from typing import TYPE_CHECKING

from smstrio.core.ratelimit import Gcra, Grant, next_slot, reserve
from smstrio.roles.throttle import HORIZON_S, STALE_S

if TYPE_CHECKING:
    from smstrio.sim.kernel import _Lane, _Timeline


def run_queue(arrivals: list[float], lanes: list[_Lane], timeline: _Timeline, fleet: Fleet | None = None) -> None:
    """Run ``lanes`` over the messages arriving at ``arrivals`` until every message ended; ``fleet`` is the limit
    every lane shares."""
    total = len(arrivals)
    tries = bytearray(total)
    """Per message, the sends started so far."""
    ready: collections.deque[int] = collections.deque()
    """The messages waiting in the queue, in order."""
    held: list[collections.deque[int]] = [collections.deque() for _ in lanes]
    busy = [0] * len(lanes)
    heap: list[tuple[float, int, int]] = []
    """Sends in flight: (end, lane, message)."""
    later: collections.deque[tuple[float, int]] = collections.deque()
    """Retries waiting: (when each comes back into the queue, message), in order."""
    back = -math.inf  # when the last retry sent back comes back
    starts, latencies = timeline.starts, timeline.latencies

    def start(number: int, message: int, now: float) -> None:
        lane = lanes[number]
        taken = lane.sample()
        lane.service.append(taken)
        tries[message] += 1
        if tries[message] == 1:
            starts.append(now)
        heapq.heappush(heap, (now + taken, number, message))
        busy[number] += 1

    gates = [None if lane.limit is None and fleet is None else Gate(lane.limit, fleet, lane.want) for lane in lanes]
    wakes: list[tuple[float, int]] = []
    """When a lane's gate is next due: (time, lane)."""

    def hand(number: int, now: float) -> None:
        """Deliver from the queue to lane ``number`` while it has room; a free worker starts each at once (under a
        limit, the worker that passed the gate)."""
        lane, waiting, gate = lanes[number], held[number], gates[number]
        while ready and busy[number] + len(waiting) < lane.prefetch:
            message = ready.popleft()
            if gate is None and busy[number] < lane.profile.workers:
                start(number, message, now)
            else:
                waiting.append(message)
        if gate is not None:
            advance(number, now)

    def advance(number: int, now: float) -> None:
        """Let lane ``number``'s free workers through its gate, one at a time, as far as the limits allow."""
        gate, waiting, workers = gates[number], held[number], lanes[number].profile.workers
        assert gate is not None
        while True:
            if gate.phase == TAKE:
                if not waiting:
                    return
                start(number, waiting.popleft(), now)
                gate.phase = IDLE
            elif gate.phase != IDLE or busy[number] >= workers:
                return
            if busy[number] >= workers:
                return
            wake = gate.begin(now)
            if wake is not None:
                heapq.heappush(wakes, (wake, number))
                return

    def enter(message: int, now: float) -> None:
        """``message`` joins the queue; an empty queue hands it to the first lane with room."""
        ready.append(message)
        if len(ready) == 1:
            for number, lane in enumerate(lanes):
                if busy[number] + len(held[number]) < lane.prefetch:
                    hand(number, now)
                    break

    for number, gate in enumerate(gates):  # the senders' workers reach their gates before the first message
        if gate is not None:
            advance(number, 0.0)
    arrived = 0
    while True:
        at = arrivals[arrived] if arrived < total else math.inf
        due = later[0][0] if later else math.inf
        ends = heap[0][0] if heap else math.inf
        if wakes and wakes[0][0] < ends:
            ends = wakes[0][0]  # a gate's wait ends before the next send does: the next event of a lane
        if at <= due and at <= ends:
            if at == math.inf:
                break
            enter(arrived, at)
            arrived += 1
            continue
        if due <= ends:
            enter(later.popleft()[1], due)
            continue
        if wakes and wakes[0][0] == ends:
            now, number = heapq.heappop(wakes)
            gate = gates[number]
            assert gate is not None
            wake = gate.woken(now)
            if wake is not None:
                heapq.heappush(wakes, (wake, number))
            else:
                advance(number, now)
            continue
        now, number, message = heap[0]
        lane = lanes[number]
        heapq.heappop(heap)
        failed = lane.draw() < lane.profile.failure_rate
        if failed and tries[message] < lane.profile.max_attempts:
            lane.retried += 1
            back = max(back, now + lane.profile.retry_delay * 2 ** (tries[message] - 1))
            if back <= now:  # no delay: back in the queue before the acknowledgement makes room
                enter(message, now)
            else:
                later.append((back, message))
        else:
            lane.failed += failed
            latencies.append(now - arrivals[message])
            timeline.last = now
        busy[number] -= 1
        if gates[number] is not None:
            advance(number, now)  # the worker goes back to the gate
        elif held[number]:
            start(number, held[number].popleft(), now)
        hand(number, now)


IDLE, LOCAL_WAIT, FLEET_WAIT, TAKE = range(4)
"""A gate's phases: no worker at it; one waiting for a slot of the sender's own limit, or of the fleet's;
one that passed, waiting for a delivery."""


class Fleet:
    """The fleet limit every sender shares, as the store keeps it (``limit.lua``, the memory twin)."""

    def __init__(self, limit: Gcra) -> None:
        self.limit = limit
        self.tat_us = 0

    def reserve(self, now: float, want: int) -> Grant:
        self.tat_us, grant = reserve(self.tat_us, round(now * 1e6), want, self.limit, round(HORIZON_S * 1e6))
        return grant


class Gate:
    """One sender's :class:`~smstrio.roles.throttle.Throttle`, stepped by the kernel: a free worker takes the gate
    (:meth:`begin`), waits for a slot of the sender's own limit, then for one of the fleet's (asked for in grants
    of ``want``, stale ones dropped), then takes the next delivery and lets the next worker in."""

    def __init__(self, local: Gcra | None, fleet: Fleet | None, want: int) -> None:
        self.local = local
        self.fleet = fleet
        self.want = want
        self.phase = IDLE
        self.tat_us = 0
        self.slots: collections.deque[float] = collections.deque()

    def begin(self, now: float) -> float | None:
        """A worker takes the gate at ``now``: when it is next due (a wait), or ``None`` once it passed."""
        if self.local is not None:
            self.tat_us, due_us = next_slot(self.tat_us, round(now * 1e6), self.local)
            if due_us / 1e6 > now:
                self.phase = LOCAL_WAIT
                return due_us / 1e6
        return self._fleet_slot(now)

    def woken(self, now: float) -> float | None:
        """The wait ended at ``now``: when the gate is next due, or ``None`` once it passed."""
        if self.phase == LOCAL_WAIT:
            return self._fleet_slot(now)
        self.phase = TAKE
        return None

    def _fleet_slot(self, now: float) -> float | None:
        fleet, slots = self.fleet, self.slots
        if fleet is not None:
            stale = now - STALE_S
            while slots and slots[0] < stale:
                slots.popleft()
            if not slots:
                grant = fleet.reserve(now, self.want)
                slots.extend(now + grant.delay_us(k) / 1e6 for k in range(grant.count))
            slot = slots.popleft()
            if slot > now:
                self.phase = FLEET_WAIT
                return slot
        self.phase = TAKE
        return None
