"""An event-driven model of ``smstrio simulate``: a heap of completion times, no Trio.

It answers what :func:`~smstrio.sim.simulate.run_simulation` answers (duration, throughput,
send-time and latency percentiles, the deepest queue, per sender), a hundred times faster or
more, so that the planner can try many worker counts. It models what the simulation does in
virtual time, and nothing else costs virtual time there:

- each sender profile draws from its own ``random.Random``, seeded from the scenario's
  seed in the same order; per send, the send time when a worker starts it and the
  failure draw when it ends, as :class:`~smstrio.roles.gateway.SimulatedGateway` does;
- messages arrive all at once at the start, or one by one at the instants
  :func:`~smstrio.sim.arrivals.arrival_times` draws from the seed (the simulation draws the same);
- the broker hands each sender up to its prefetch (twice its workers, at most 65,535) unacknowledged
  messages, each arrival to the first sender listed with room, and one more at each completion while
  the queue holds any: a sender's workers take the next message it holds at once, and at the end
  a slow sender still works through the messages it holds while a fast one idles;
- recording, acknowledging and publishing take no virtual time (the simulation turns the
  sender's batch linger off, and flow control only delays the producer within an instant).

Events at the same instant are taken arrivals first, then completions. With one sender the draws
come in the same order as in the simulation, so the numbers are the same to the microsecond. With
several, sends that end at the same instant (constant send times) may be taken in another order
than Trio's random one: shares may differ by a round, as between two simulations. Retries and
rate limits take the general loop of :mod:`smstrio.sim.kernel_queue`.
"""

from __future__ import annotations

import collections
import functools
import heapq
import math
import random
from dataclasses import dataclass, field

from smstrio.core.config import Common, SenderSettings
from smstrio.core.distributions import sampler
from smstrio.core.ratelimit import Gcra
from smstrio.core.scenario import Arrivals, Scenario, SenderProfile
from smstrio.core.summary import SimulationSummary
from smstrio.roles.throttle import Throttle
from smstrio.sim.arrivals import arrival_times
from smstrio.sim.kernel_queue import run_queue
from smstrio.sim.kernel_throttle import Fleet
from smstrio.sim.report import SenderOutcome, histogram_of, summarize


class _Lane:
    """One sender profile: its draws, and what its sends took."""

    def __init__(self, profile: SenderProfile, rng: random.Random, fleet_rate_limit: float | None = None) -> None:
        self.profile = profile
        self.sample = sampler(profile.distribution, profile.mean, rng)
        self.draw = rng.random
        settings = SenderSettings(
            common=Common(),
            workers=profile.workers,
            mean=profile.mean,
            rate_limit=profile.rate_limit,
            fleet_rate_limit=fleet_rate_limit,
        )
        self.prefetch = settings.effective_prefetch
        self.limit = None if profile.rate_limit is None else Gcra(rate=profile.rate_limit)
        """The sender's own limit."""
        self.want = Throttle.batch_for(fleet_rate_limit or 1.0)
        """Fleet slots it asks for at once."""
        self.service: list[float] = []
        """Every send time drawn, in seconds."""
        self.failed = 0
        self.retried = 0


@dataclass(slots=True)
class _Timeline:
    """When sends started, what each message's latency was, when the last one ended (seconds)."""

    starts: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    last: float = 0.0


def run_kernel(scenario: Scenario) -> SimulationSummary:
    """Model ``scenario`` as ``run_simulation`` would run it on a MockClock; return what it would report."""
    seed = scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**32)
    master = random.Random(seed)
    fleet = scenario.fleet_rate_limit
    lanes = [_Lane(profile, random.Random(master.getrandbits(64)), fleet) for profile in scenario.senders]
    master.getrandbits(64)  # the producer's seed: its draws cost no virtual time
    arrivals = _arrivals(scenario.messages, scenario.arrivals, master.getrandbits(64))
    timeline = _Timeline()
    if fleet is not None or any(p.max_attempts > 1 or p.rate_limit is not None for p in scenario.senders):
        run_queue(arrivals, lanes, timeline, None if fleet is None else Fleet(Gcra(rate=fleet)))
    elif len(lanes) == 1:
        _one_sender(arrivals, lanes[0], timeline)
    else:
        _senders(arrivals, lanes, timeline)
    failed = sum(lane.failed for lane in lanes)
    return summarize(
        scenario,
        seed=seed,
        senders=[
            SenderOutcome(
                sent=len(lane.service) - lane.failed - lane.retried,
                failed=lane.failed,
                histogram=histogram_of(lane.service),
            )
            for lane in lanes
        ],
        sent=scenario.messages - failed,
        failed=failed,
        retried=sum(lane.retried for lane in lanes),
        complete=True,
        virtual=True,
        duration_s=timeline.last,
        latencies=timeline.latencies,
        arrived=arrivals,
        starts=timeline.starts,
    )


@functools.lru_cache(maxsize=2)
def _arrivals(messages: int, arrivals: Arrivals | None, seed: int) -> list[float]:
    """:func:`arrival_times`, kept for the next run: a planner's runs differ in workers, not in arrivals.
    The list is shared: read it, never change it."""
    return arrival_times(messages, arrivals, random.Random(seed))


def _one_sender(arrivals: list[float], lane: _Lane, timeline: _Timeline) -> None:
    """Run one lane until every message ended.

    Alone, a sender's workers take the messages in the order they arrive: a free worker (of at most
    the prefetch) starts an arrival at once; otherwise it waits for the next completion, which
    starts it: one heap replacement per message.
    """
    sample, draw, rate = lane.sample, lane.draw, lane.profile.failure_rate
    workers = min(lane.profile.workers, lane.prefetch)
    heap: list[float] = []
    service, starts, latencies = lane.service, timeline.starts, timeline.latencies
    keep, begin, wait, push, replace, pop = (
        service.append,
        starts.append,
        latencies.append,
        heapq.heappush,
        heapq.heapreplace,
        heapq.heappop,
    )
    failed = following = arrived = 0  # following: the next message to start; arrived: the messages so far
    now = 0.0
    total, last = len(arrivals), arrivals[-1]
    while True:
        at = arrivals[arrived] if arrived < total else math.inf  # once all arrived, every send ends
        while heap and heap[0] < at:
            now = heap[0]
            if draw() < rate:
                failed += 1
            if following < arrived:
                taken = sample()
                replace(heap, now + taken)
                keep(taken)
                begin(now)
                wait(now + taken - arrivals[following])
                following += 1
            else:
                pop(heap)
        if arrived == total:
            break
        if len(heap) < workers:
            taken = sample()
            end = at + taken
            push(heap, end)
            keep(taken)
            begin(at)
            wait(end - at)  # as the simulation takes it: the end's instant less the arrival's
            following += 1
            arrived += 1
        elif at == last:
            arrived = total  # every worker is busy and the rest arrive now too (loaded at once): they wait
        else:
            arrived += 1
    lane.failed = failed
    timeline.last = now


def _senders(arrivals: list[float], lanes: list[_Lane], timeline: _Timeline) -> None:
    """Run several lanes sharing one queue until every message ended."""
    held: list[collections.deque[float]] = [collections.deque() for _ in lanes]
    """Per lane, the arrival times of the messages it holds and has not started, oldest first."""
    busy = [0] * len(lanes)
    heap: list[tuple[float, int]] = []
    starts, latencies = timeline.starts, timeline.latencies
    arrived = delivered = 0
    total = len(arrivals)
    while arrived < total or heap:
        if arrived < total and (not heap or arrivals[arrived] <= heap[0][0]):
            at = arrivals[arrived]
            arrived += 1
            if delivered < arrived - 1:
                continue  # others wait in the queue: every sender is full
            for number, lane in enumerate(lanes):  # the broker's first consumer with room takes it
                if busy[number] + len(held[number]) < lane.prefetch:
                    delivered += 1
                    if busy[number] < lane.profile.workers:
                        taken = lane.sample()
                        lane.service.append(taken)
                        heapq.heappush(heap, (at + taken, number))
                        busy[number] += 1
                        starts.append(at)
                        latencies.append(at + taken - at)
                    else:
                        held[number].append(at)
                    break
            continue
        now, number = heap[0]
        lane = lanes[number]
        if lane.draw() < lane.profile.failure_rate:
            lane.failed += 1
        timeline.last = now
        if delivered < arrived:  # the ack makes room for one more delivery
            held[number].append(arrivals[delivered])
            delivered += 1
        if held[number]:  # and a free worker takes a held message at once
            waited_since = held[number].popleft()
            taken = lane.sample()
            lane.service.append(taken)
            heapq.heapreplace(heap, (now + taken, number))
            starts.append(now)
            latencies.append(now + taken - waited_since)
        else:
            heapq.heappop(heap)
            busy[number] -= 1
