"""An event-driven model of ``smstrio simulate`` for the drain question: a heap of completion times, no Trio.

It answers what :func:`~smstrio.sim.simulate.run_simulation` answers for a campaign of
``messages`` loaded at once (duration, throughput, send-time percentiles per sender),
a hundred times faster or more, so that the planner can try many worker counts. It models what
the simulation does in virtual time, and nothing else costs virtual time there:

- each sender profile draws from its own ``random.Random``, seeded from the scenario's
  seed in the same order; per send, the send time when a worker starts it and the
  failure draw when it ends, as :class:`~smstrio.roles.gateway.SimulatedGateway` does;
- the broker hands each sender up to its prefetch (twice its workers, at most 65,535) unacknowledged
  messages, senders in the order they are listed, and one more at each completion while
  the queue holds any: a sender's workers take the next message at once, and at the end
  a slow sender still works through the messages it holds while a fast one idles;
- recording, acknowledging and publishing take no virtual time (the simulation turns the
  sender's batch linger off, and flow control only delays the producer within an instant).

With one sender the draws come in the same order, so the numbers are those of the
simulation to the microsecond. With several, sends that end at the same instant (constant
send times) may be taken in another order than Trio's random one: shares may differ by a
round, as between two simulations. Retries are not modelled: the simulation has none.
"""

from __future__ import annotations

import bisect
import heapq
import random
from dataclasses import dataclass

from smstrio.core.config import Common, SenderSettings
from smstrio.core.distributions import sampler
from smstrio.core.histogram import PRECISION_BITS, Histogram, bucket_bounds, bucket_key
from smstrio.core.scenario import Scenario, SenderProfile
from smstrio.core.summary import SimulationSummary, seconds
from smstrio.sim.report import SenderOutcome, summarize


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelRun:
    """What :func:`run_kernel` found: the summary the simulation would print, and the latencies."""

    summary: SimulationSummary
    """As :func:`~smstrio.sim.simulate.run_simulation` returns it, in simulated seconds."""
    latency: Histogram
    """End-to-end latency of every message in microseconds: from the campaign's start, when all are
    loaded, to its outcome."""

    @property
    def latency_p50_s(self) -> float:
        return seconds(self.latency.percentile(50))

    @property
    def latency_p99_s(self) -> float:
        return seconds(self.latency.percentile(99))


class _Lane:
    """One sender profile: its draws, and what its sends took."""

    def __init__(self, profile: SenderProfile, rng: random.Random) -> None:
        self.profile = profile
        self.sample = sampler(profile.distribution, profile.mean, rng)
        self.draw = rng.random
        self.prefetch = SenderSettings(common=Common(), workers=profile.workers).effective_prefetch
        self.service: list[float] = []
        """Every send time drawn, in seconds."""
        self.failed = 0


def run_kernel(scenario: Scenario) -> KernelRun:
    """Model ``scenario`` as ``run_simulation`` would run it on a MockClock; return what it would report."""
    seed = scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**32)
    master = random.Random(seed)
    lanes = [_Lane(profile, random.Random(master.getrandbits(64))) for profile in scenario.senders]
    ends = _one_sender(scenario.messages, lanes[0]) if len(lanes) == 1 else _senders(scenario.messages, lanes)
    return _report(scenario, seed, lanes, ends)


def _one_sender(messages: int, lane: _Lane) -> list[float]:
    """Run one lane until every message ended; return the end times, in order.

    Alone, a sender is handed a message at each completion while any remain, so each completion
    starts the next send: one heap replacement per message.
    """
    sample, draw, rate = lane.sample, lane.draw, lane.profile.failure_rate
    delivered = min(lane.prefetch, messages)
    service = lane.service
    service += (sample() for _ in range(min(lane.profile.workers, delivered)))
    heap = list(service)
    heapq.heapify(heap)
    ends: list[float] = []
    end, keep, replace, failed = ends.append, service.append, heapq.heapreplace, 0
    for _ in range(messages - len(heap)):
        now = heap[0]
        if draw() < rate:
            failed += 1
        taken = sample()
        replace(heap, now + taken)
        keep(taken)
        end(now)
    while heap:
        end(heapq.heappop(heap))
        if draw() < rate:
            failed += 1
    lane.failed = failed
    return ends


def _senders(messages: int, lanes: list[_Lane]) -> list[float]:
    """Run several lanes sharing one queue until every message ended; return the end times, in order."""
    queued = messages
    held: list[int] = []
    heap: list[tuple[float, int]] = []
    for number, lane in enumerate(lanes):  # the broker fills its consumers in the order they attached
        delivered = min(lane.prefetch, queued)
        queued -= delivered
        started = [lane.sample() for _ in range(min(lane.profile.workers, delivered))]
        lane.service += started
        heap += ((t, number) for t in started)
        held.append(delivered - len(started))
    heapq.heapify(heap)
    ends: list[float] = []
    while heap:
        now, number = heap[0]
        lane = lanes[number]
        if lane.draw() < lane.profile.failure_rate:
            lane.failed += 1
        ends.append(now)
        if queued:  # the ack makes room for one more delivery
            queued -= 1
            held[number] += 1
        if held[number]:  # and a free worker takes a held message at once
            held[number] -= 1
            taken = lane.sample()
            lane.service.append(taken)
            heapq.heapreplace(heap, (now + taken, number))
        else:
            heapq.heappop(heap)
    return ends


def _report(scenario: Scenario, seed: int, lanes: list[_Lane], ends: list[float]) -> KernelRun:
    """The summary ``run_simulation`` builds, from the lanes' draws and the end times."""
    senders = [
        SenderOutcome(sent=len(lane.service) - lane.failed, failed=lane.failed, histogram=_histogram(lane.service))
        for lane in lanes
    ]
    failed = sum(lane.failed for lane in lanes)
    summary = summarize(
        scenario,
        seed=seed,
        senders=senders,
        sent=scenario.messages - failed,
        failed=failed,
        complete=True,
        virtual=True,
        duration_s=ends[-1],
    )
    return KernelRun(summary=summary, latency=_histogram(ends))


def _histogram(times_s: list[float]) -> Histogram:
    """A histogram of ``times_s`` in microseconds, as ``Histogram.record`` of each would give, without a
    step per value: sorted, each bucket's count is where the next bucket starts, found by bisection.
    End times come already sorted, which sorting finds in one pass.
    """
    ordered = sorted(times_s)
    buckets: list[list[int]] = []
    first = 0
    while first < len(ordered):
        low, width = bucket_bounds(bucket_key(_us(ordered[first])))
        after = bisect.bisect_left(ordered, low + width, first, key=_us)  # _us keeps the order
        buckets.append([low, after - first])
        first = after
    return Histogram.from_dict(
        {
            "precision_bits": PRECISION_BITS,
            "count": len(ordered),
            "min": _us(ordered[0]) if ordered else 0,
            "max": _us(ordered[-1]) if ordered else 0,
            "buckets": buckets,
        }
    )


def _us(seconds: float) -> int:
    """Seconds as whole microseconds, as the simulation records them."""
    return round(seconds * 1e6)
