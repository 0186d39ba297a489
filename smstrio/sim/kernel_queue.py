"""The kernel's general loop: one queue that retries come back to, shared by any number of senders.

:mod:`smstrio.sim.kernel` takes this loop when some sender retries (``max_attempts`` above 1); its own
loops, faster, serve the campaigns where every message is sent once. It models what the simulation
does in virtual time with :func:`smstrio.roles.attempt.attempt` and the in-memory broker:

- a send that fails before the sender's last attempt is counted as retried and goes to the retry
  queue for ``retry_delay * 2**(attempt - 1)`` seconds; that queue is first in, first out, as
  RabbitMQ's dead-lettering of expired messages: a retry comes back into the queue when it is due
  and every retry ahead of it came back (the latest of its due time and theirs);
- back in the queue, it waits behind every message there, loaded or arrived before
  (the simulation holds back retries while its producer is still loading, for the same order);
- the broker hands a message that enters an empty queue to the first sender listed with room
  (fewer than its prefetch unacknowledged), and at each acknowledgement the next in the queue to
  the sender that acknowledged; a sender's free worker takes what it holds, in order;
- a message's latency runs from its creation to the end of its last send; its first send's start
  is what the deepest queue counts (retries waiting are not counted).

Events at the same instant: arrivals, then retries coming back, then completions. Messages that
start at the same instant on one sender draw their send times in the order of the queue, where Trio
wakes the workers in an order of its own: when they differ (a first attempt and a retry, or
different arrival times), shares may differ by a send between the kernel and a simulation.
"""

from __future__ import annotations

import collections
import heapq
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smstrio.sim.kernel import _Lane, _Timeline


def run_queue(arrivals: list[float], lanes: list[_Lane], timeline: _Timeline) -> None:
    """Run ``lanes`` over the messages arriving at ``arrivals`` until every message ended."""
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

    def hand(number: int, now: float) -> None:
        """Deliver from the queue to lane ``number`` while it has room; a free worker starts each at once."""
        lane, waiting = lanes[number], held[number]
        while ready and busy[number] + len(waiting) < lane.prefetch:
            message = ready.popleft()
            if busy[number] < lane.profile.workers:
                start(number, message, now)
            else:
                waiting.append(message)

    def enter(message: int, now: float) -> None:
        """``message`` joins the queue; an empty queue hands it to the first lane with room."""
        ready.append(message)
        if len(ready) == 1:
            for number, lane in enumerate(lanes):
                if busy[number] + len(held[number]) < lane.prefetch:
                    hand(number, now)
                    break

    arrived = 0
    while True:
        at = arrivals[arrived] if arrived < total else math.inf
        due = later[0][0] if later else math.inf
        ends = heap[0][0] if heap else math.inf
        if at <= due and at <= ends:
            if at == math.inf:
                break
            enter(arrived, at)
            arrived += 1
            continue
        if due <= ends:
            enter(later.popleft()[1], due)
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
        if held[number]:
            start(number, held[number].popleft(), now)
        hand(number, now)
