"""The planner's two questions: what each measures, where its search starts, and when no count can pass. Pure.

- **Drain**: messages loaded at once, processed within ``thresholds.max_duration_s``. Start:
  Little's law, ``messages * mean / target`` workers each busy all the time.
- **Steady arrivals**: ``arrivals`` at a rate, their p99 end-to-end latency within
  ``thresholds.max_p99_latency_s``. Start, for exponential send times: Erlang C, the fewest
  servers of an M/M/c queue whose p99 time in the system (waiting plus sending) meets the limit; for the
  other distributions, the offered load ``rate * mean`` plus its square root (square-root staffing).
  Both start at the queue's steady state, which a run from an empty queue reaches only after a while:
  the kernel's answer is usually at or a little under the start.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from smstrio.core.distributions import Distribution
from smstrio.core.scenario import MAX_SENDERS, Scenario, SenderProfile
from smstrio.core.summary import SimulationSummary

PERCENTILE = 0.99
"""The latency percentile the arrivals question holds to its limit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Goal:
    """What a question measures in a run's summary, and the limit a run must stay within."""

    measure: str
    """``duration_s`` or ``latency_p99_s``: the summary's field."""
    limit: float

    def of(self, summary: SimulationSummary) -> float:
        value: float = getattr(summary, self.measure)
        return value

    def took(self, summary: SimulationSummary, *, present: bool = False) -> str:
        """What a run did, in words: ``took 12 s`` or ``had a p99 latency of 12 s`` (``take``, ``have``)."""
        verb = ("take" if present else "took") if self.measure == "duration_s" else "have" if present else "had"
        noun = "" if self.measure == "duration_s" else " a p99 latency of"
        return f"{verb}{noun} {self.of(summary):g} s"


def goal(scenario: Scenario) -> Goal:
    """The question ``scenario`` asks: a drain within a duration, or arrivals within a p99 latency."""
    if len(scenario.senders) != 1:
        raise ValueError("planning needs a scenario with exactly one sender")
    t = scenario.thresholds
    if scenario.arrivals is None:
        if t.max_duration_s is None:
            raise ValueError("planning a drain needs a target duration (thresholds.max_duration_s)")
        return Goal(measure="duration_s", limit=t.max_duration_s)
    if t.max_p99_latency_s is None:
        raise ValueError("planning for arrivals needs a latency limit (thresholds.max_p99_latency_s)")
    return Goal(measure="latency_p99_s", limit=t.max_p99_latency_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """Where the search starts: a worker count, and what gave it."""

    workers: int
    basis: str
    """``Little's law``, ``Erlang C`` or ``offered load + its square root``."""


def estimate(scenario: Scenario, most: int) -> Estimate:
    """The analytic start for ``scenario``'s question (at most ``most`` for Erlang C's search)."""
    (profile,), limit = scenario.senders, goal(scenario).limit
    if scenario.arrivals is None:
        return Estimate(workers=max(1, math.ceil(scenario.messages * profile.mean / limit)), basis="Little's law")
    load = scenario.arrivals.rate * profile.mean
    if profile.distribution is Distribution.EXPONENTIAL and profile.mean > 0:
        return Estimate(workers=erlang_c(scenario.arrivals.rate, profile.mean, limit, most), basis="Erlang C")
    return Estimate(workers=max(1, math.ceil(load + math.sqrt(load))), basis="offered load + its square root")


def erlang_c(rate: float, mean: float, limit: float, most: int) -> int:
    """The fewest servers of an M/M/c queue (arrivals ``rate``, exponential service of ``mean``) whose
    p99 time in the system is within ``limit``; ``most`` if none up to it is."""
    load, mu = rate * mean, 1 / mean
    blocking = 1.0  # Erlang B of 0 servers; the recursion below is the stable one
    for servers in range(1, most + 1):
        blocking = load * blocking / (servers + load * blocking)
        if servers <= load:
            continue
        waits = servers * blocking / (servers - load * (1 - blocking))  # Erlang C: the chance to queue
        theta = servers * mu - rate  # the rate at which a queue drains
        if math.isclose(theta, mu):
            tail = (1 + mu * limit) * math.exp(-mu * limit)
        else:
            tail = (theta * math.exp(-mu * limit) - mu * math.exp(-theta * limit)) / (theta - mu)
        if (1 - waits) * math.exp(-mu * limit) + waits * tail <= 1 - PERCENTILE:
            return servers
    return most


def send_p99(profile: SenderProfile) -> float:
    """The 99th percentile of one send time: no latency can be shorter, however many workers."""
    match profile.distribution:
        case Distribution.EXPONENTIAL:
            return profile.mean * -math.log(1 - PERCENTILE)
        case Distribution.NORMAL:
            return statistics.NormalDist(profile.mean, profile.mean / 4).inv_cdf(PERCENTILE)
        case Distribution.UNIFORM:
            return 2 * profile.mean * PERCENTILE
    return profile.mean


def impossible(scenario: Scenario, *, max_workers: int, workers_per_process: int | None = None) -> str | None:
    """Why no worker count up to ``max_workers`` can pass, when that is clear without a run; else ``None``."""
    (profile,), limit = scenario.senders, goal(scenario).limit
    unit, most = workers_per_process or 1, most_counts(max_workers, workers_per_process)
    layout = "" if unit == 1 else f" in processes of {unit}"
    if scenario.arrivals is not None:
        if limit < send_p99(profile):
            return (
                f"a p99 latency of {limit:g} s is under the p99 of one send ({send_p99(profile):g} s, "
                f"{profile.distribution.value} of mean {profile.mean:g} s): no worker count meets it"
            )
        load = scenario.arrivals.rate * profile.mean
        if load >= most * unit:
            return (
                f"{scenario.arrivals.rate:g} messages/s of {profile.mean:g} s sends keep {load:g} workers busy on "
                f"average (rate * mean){layout}: --max-workers {max_workers} cannot keep up, "
                "the queue grows without end"
            )
        return None
    if limit < profile.mean:
        return f"a target of {limit:g} s is under one mean send time ({profile.mean:g} s): no worker count meets it"
    needed = estimate(scenario, max_workers).workers
    if math.ceil(needed / unit) > most:
        return (
            f"{scenario.messages} messages of {profile.mean:g} s within {limit:g} s need at least {needed} "
            f"workers (messages * mean / target){layout}, more than --max-workers {max_workers}"
        )
    return None


def most_counts(max_workers: int, workers_per_process: int | None) -> int:
    """The largest count to try: ``max_workers``, or the processes that fit in it (at most ``MAX_SENDERS``)."""
    return max_workers if workers_per_process is None else min(max_workers // workers_per_process, MAX_SENDERS)
