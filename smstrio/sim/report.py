"""The summary of a simulated campaign, built one way for the simulation and the kernel alike. Pure."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from smstrio.core.histogram import Histogram
from smstrio.core.scenario import Scenario
from smstrio.core.summary import SenderSummary, SimulationSummary, evaluate, seconds


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
    complete: bool,
    virtual: bool,
    duration_s: float,
) -> SimulationSummary:
    """The summary of ``scenario``'s run: ``senders`` in the scenario's order, the totals counted, the duration."""
    hist = functools.reduce(Histogram.merge, (s.histogram for s in senders), Histogram())
    timed = sent + failed
    duration_s = round(duration_s, 6)
    failure_rate = round(failed / timed, 6) if timed else 0.0
    p99_s = seconds(hist.percentile(99))
    return SimulationSummary(
        messages=scenario.messages,
        sent=sent,
        failed=failed,
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
        thresholds=tuple(evaluate(scenario.thresholds, p99_s=p99_s, failure_rate=failure_rate, duration_s=duration_s)),
        histogram=hist,
    )
