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
- under a limit, a sender's free workers take their turns as its throttle hands them out
  (:mod:`smstrio.sim.kernel_throttle`), then the next message it holds or wait for one; its prefetch
  is the one a limit gives (``SenderSettings.effective_prefetch``);
- a message's latency runs from its creation to the end of its last send; its first send's start
  is what the deepest queue counts (retries waiting are not counted).

Events at the same instant: arrivals, then retries coming back, then throttles' waits ending, then
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

from smstrio.sim.kernel_throttle import Fleet, LaneThrottle

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

    wakes: list[tuple[float, int]] = []
    """When a lane's throttle is next due: (time, lane)."""

    def throttle(number: int, lane: _Lane) -> LaneThrottle | None:
        if lane.limit is None and fleet is None:
            return None
        waiting = held[number]
        return LaneThrottle(
            lane.limit,
            fleet,
            lane.want,
            take=lambda: waiting.popleft() if waiting else None,
            start=lambda message, now: start(number, message, now),
            wake=lambda at: heapq.heappush(wakes, (at, number)),
        )

    throttles = [throttle(number, lane) for number, lane in enumerate(lanes)]

    def room(number: int) -> bool:
        """Whether lane ``number`` has fewer than its prefetch unacknowledged: sending, held or carried."""
        limits = throttles[number]
        unacked = busy[number] + len(held[number]) + (0 if limits is None else limits.carried)
        return unacked < lanes[number].prefetch

    def hand(number: int, now: float) -> None:
        """Deliver from the queue to lane ``number`` while it has room; a free worker starts each at once (under a
        limit, a worker that took its turn)."""
        lane, waiting, limits = lanes[number], held[number], throttles[number]
        while ready and room(number):
            message = ready.popleft()
            if limits is None:
                if busy[number] < lane.profile.workers:
                    start(number, message, now)
                else:
                    waiting.append(message)
            elif not limits.deliver(message, now):
                waiting.append(message)

    def enter(message: int, now: float) -> None:
        """``message`` joins the queue; an empty queue hands it to the first lane with room."""
        ready.append(message)
        if len(ready) == 1:
            for number in range(len(lanes)):
                if room(number):
                    hand(number, now)
                    break

    for number, limits in enumerate(throttles):  # the senders' workers come for their turns before any message
        if limits is not None:
            for _ in range(lanes[number].profile.workers):
                limits.free(0.0)
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
            limits = throttles[number]
            assert limits is not None
            limits.woken(now)
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
        if (limits := throttles[number]) is not None:
            limits.free(now)  # the worker comes for its next turn
        elif held[number]:
            start(number, held[number].popleft(), now)
        hand(number, now)
