"""The summary of a simulated campaign, built one way for the simulation and the kernel alike. Pure."""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from smstrio.core.histogram import PRECISION_BITS, Histogram, bucket_bounds, bucket_key
from smstrio.core.scenario import Scenario
from smstrio.core.summary import Engine, SenderSummary, SimulationSummary, evaluate, seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderOutcome:
    """What one sender did: its counts, and every send time it made in microseconds."""

    sent: int
    failed: int
    histogram: Histogram


def summarize(
    scenario: Scenario,
    *,
    seed: int,
    senders: Sequence[SenderOutcome],
    sent: int,
    failed: int,
    retried: int = 0,
    complete: bool,
    virtual: bool,
    duration_s: float,
    latencies: Sequence[float],
    arrived: Sequence[float],
    starts: Sequence[float],
    engine: Engine = "kernel",
) -> SimulationSummary:
    """The summary of ``scenario``'s run: ``senders`` in the scenario's order, the totals counted, the duration,
    each outcome's latency, when each message arrived (in order) and when each send started (in seconds);
    ``engine``: what ran it (the kernel leaves it out, the full simulation says ``tasks``)."""
    hist = functools.reduce(Histogram.merge, (s.histogram for s in senders), Histogram())
    latency = histogram_of(latencies)
    timed = sent + failed
    duration_s = round(duration_s, 6)
    failure_rate = round(failed / timed, 6) if timed else 0.0
    p99_s = seconds(hist.percentile(99))
    latency_p99_s = seconds(latency.percentile(99))
    arrivals = scenario.arrivals
    return SimulationSummary(
        messages=scenario.messages,
        sent=sent,
        failed=failed,
        retried=retried,
        complete=complete,
        virtual_time=virtual,
        seed=seed,
        duration_s=duration_s,
        throughput_per_s=round(timed / duration_s, 3) if duration_s > 0 else None,
        failure_rate=failure_rate,
        p50_s=seconds(hist.percentile(50)),
        p90_s=seconds(hist.percentile(90)),
        p95_s=seconds(hist.percentile(95)),
        p99_s=p99_s,
        max_s=seconds(hist.max),
        latency_p50_s=seconds(latency.percentile(50)),
        latency_p99_s=latency_p99_s,
        latency_max_s=seconds(latency.max),
        max_queue_depth=max_waiting(arrived, starts),
        engine=engine,
        arrival_rate_per_s=None if arrivals is None else arrivals.rate,
        arrivals=None if arrivals is None else arrivals.process.value,
        senders=tuple(
            SenderSummary(
                name=name,
                workers=profile.workers,
                mean_s=profile.mean,
                failure_rate=profile.failure_rate,
                distribution=profile.distribution.value,
                sent=outcome.sent,
                failed=outcome.failed,
                p50_s=seconds(outcome.histogram.percentile(50)),
                p99_s=seconds(outcome.histogram.percentile(99)),
            )
            for name, profile, outcome in zip(scenario.sender_names, scenario.senders, senders, strict=True)
        ),
        thresholds=tuple(
            evaluate(
                scenario.thresholds,
                p99_s=p99_s,
                failure_rate=failure_rate,
                duration_s=duration_s,
                latency_p99_s=latency_p99_s,
            )
        ),
        histogram=hist,
        latency=latency,
    )


def max_waiting(arrived: Sequence[float], starts: Sequence[float]) -> int:
    """The most messages waiting at once: arrived and not yet started (both in order of time, in seconds).

    A message that starts within half a microsecond of its arrival never waits (the simulation's clock
    and the kernel's sums may differ in the last bits). The most is reached at an arrival.
    """
    if not arrived:
        return 0
    slack = 0.5e-6
    if arrived[0] == arrived[-1]:  # every message loaded at once
        return len(arrived) - bisect.bisect_right(starts, arrived[0] + slack)
    most = started = 0
    total = len(starts)
    for count, at in enumerate(arrived, 1):  # one pass over both, in order of time
        due = at + slack
        while started < total and starts[started] <= due:
            started += 1
        if count - started > most:
            most = count - started
    return most


def histogram_of(times_s: Sequence[float]) -> Histogram:
    """A histogram of ``times_s`` in microseconds, as ``Histogram.record`` of each would give, without a
    step per value: sorted, each bucket's count is where the next bucket starts, found by bisection.
    Times that come already sorted are sorted in one pass.
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
