"""The planner's two questions: what each measures, where its search starts, and when no count can pass. Pure.

- **Drain**: messages loaded at once, processed within ``thresholds.max_duration_s``. Start:
  Little's law, ``messages * mean / target`` workers each busy all the time.
- **Steady arrivals**: ``arrivals`` at a rate, their p99 end-to-end latency within
  ``thresholds.max_p99_latency_s``. Start, for exponential send times: Erlang C, the fewest
  servers of an M/M/c queue whose p99 time in the system (waiting plus sending) meets the limit; for the
  other distributions, the offered load ``rate * mean`` plus its square root (square-root staffing).
  Both start at the queue's steady state, which a run from an empty queue reaches only after a while:
  the kernel's answer is usually at or a little under the start.

With retries, a message keeps a worker busy for its mean attempts, not one send; under a rate limit,
a target the limit cannot reach is refused before any search (one line saying what the limit allows).
With several sender profiles (:mod:`smstrio.sim.scaling`) the same holds for the workers that scale:
their mean send time is the scaled profile's, or all profiles' together (workers over the sum of
workers / mean), and the fixed profiles' sends, all busy, are taken off the rate first.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from smstrio.core.distributions import Distribution
from smstrio.core.scenario import Scenario, SenderProfile
from smstrio.core.summary import SimulationSummary
from smstrio.sim.scaling import Scaling

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
    """Where the search starts: a count, the workers it means, and what gave it."""

    count: int
    workers: int
    """Every sender's workers together at ``count``."""
    basis: str
    """``Little's law``, ``Erlang C`` or ``offered load + its square root``, and with retries ``at 1.05 sends a
    message`` (the most of the scaled profiles')."""


def estimate(scaling: Scaling, most: int) -> Estimate:
    """The analytic start for the question of ``scaling``'s scenario, at most ``most``."""
    sc, limit, mean = scaling.scenario, goal(scaling.scenario).limit, scaling.mean()
    if sc.arrivals is None:
        count, basis = scaling.count_for(sc.messages / limit), "Little's law"
    else:
        rate = sc.arrivals.rate - scaling.fixed_rate  # what the workers that scale must take
        exponential = all(p.distribution is Distribution.EXPONENTIAL for p in _scaled(scaling))
        if rate <= 0 or mean == 0:
            servers, basis = 1, "offered load + its square root"
        elif exponential:
            servers, basis = erlang_c(rate, mean, limit, scaling.scaled_workers(most)), "Erlang C"
        else:
            load = rate * mean
            servers, basis = math.ceil(load + math.sqrt(load)), "offered load + its square root"
        count = scaling.count_for(scaling.fixed_rate + servers / mean) if mean > 0 else 1
    count = min(count, most)
    attempts = max(p.mean_attempts for p in _scaled(scaling))
    if attempts > 1:
        basis += f" at {attempts:.3g} sends a message"
    return Estimate(count=count, workers=scaling.workers(count), basis=basis)


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


def impossible(scaling: Scaling, *, max_workers: int) -> str | None:
    """Why no count up to ``max_workers`` workers can pass, when that is clear without a run; else ``None``."""
    sc, limit, most = scaling.scenario, goal(scaling.scenario).limit, scaling.most(max_workers)
    single = len(sc.senders) == 1
    profile = min(sc.senders, key=lambda p: p.mean)  # the fastest
    layout = (
        f" in processes of {scaling.per_process}"
        if scaling.per_process
        else f" in {scaling.name}"
        if scaling.name
        else ""
    )
    bound = scaling.limit(most)
    if sc.arrivals is not None:
        if bound is not None and sc.arrivals.rate >= bound[0]:
            return (
                f"{sc.arrivals.rate:,g} messages/s arrive, more than {bound[1]}{_sends(sc)} can let through "
                f"({bound[0]:,.4g} messages/s): the queue grows without end"
            )
        floor = min(sc.senders, key=send_p99)
        if limit < send_p99(floor):
            of = "one send" if single else "one send of the fastest profile"
            return (
                f"a p99 latency of {limit:g} s is under the p99 of {of} ({send_p99(floor):g} s, "
                f"{floor.distribution.value} of mean {floor.mean:g} s): no worker count meets it"
            )
        if scaling.capacity(most) <= sc.arrivals.rate:
            busy = (
                f"of {profile.mean:g} s sends keep {sc.arrivals.rate * profile.mean:g} workers busy on average "
                "(rate * mean)"
                if single
                else f"need more than the {scaling.capacity(most):g}/s that --max-workers sends all busy"
            )
            return (
                f"{sc.arrivals.rate:g} messages/s {busy}{layout}: --max-workers {max_workers} cannot keep up, "
                "the queue grows without end"
            )
        return None
    if limit < profile.mean:
        of = "one mean send time" if single else "the fastest profile's mean send time"
        return f"a target of {limit:g} s is under {of} ({profile.mean:g} s): no worker count meets it"
    if bound is not None and sc.messages / limit > bound[0]:
        return (
            f"{sc.messages:,} messages within {limit:g} s need at least {math.ceil(sc.messages / limit):,} msg/s: "
            f"{bound[1]}{_sends(sc)} {'allow' if 'limits' in bound[1] else 'allows'} {sc.messages / bound[0]:,.0f} s "
            "at best"
        )
    needed = scaling.count_for(sc.messages / limit)
    if needed > most:
        what = f"of {profile.mean:g} s " if single else ""
        return (
            f"{sc.messages} messages {what}within {limit:g} s need at least {scaling.workers(needed)} "
            f"workers (messages * mean / target){layout}, more than --max-workers {max_workers}"
        )
    return None


def _sends(scenario: Scenario) -> str:
    """`` (1.25 sends a message)`` when senders retry (the fewest of the profiles'), else nothing."""
    attempts = min(p.mean_attempts for p in scenario.senders)
    return f" ({attempts:.3g} sends a message)" if attempts > 1 else ""


def _scaled(scaling: Scaling) -> list[SenderProfile]:
    """The profiles whose workers the count sets."""
    sc = scaling.scenario
    return [p for n, p in zip(sc.sender_names, sc.senders, strict=True) if scaling.name in (None, n)]
