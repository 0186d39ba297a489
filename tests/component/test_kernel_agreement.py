"""The kernel held to the simulation: on each scenario of a table, one seed, the same summary."""

from __future__ import annotations

from dataclasses import replace

import pytest
import trio
from trio.testing import MockClock

from smstrio.core.distributions import Distribution
from smstrio.core.scenario import ArrivalProcess, Arrivals, Scenario, SenderProfile, Thresholds
from smstrio.sim.kernel import run_kernel
from smstrio.sim.simulate import run_simulation

CAP_S = 10_000.0
"""A virtual-time cap on each simulation, so that one that never ends fails instead of hanging."""

EXP, NORMAL, UNIFORM, CONSTANT = (
    Distribution.EXPONENTIAL,
    Distribution.NORMAL,
    Distribution.UNIFORM,
    Distribution.CONSTANT,
)


def _sender(
    workers: int,
    mean: float,
    distribution: Distribution,
    failure_rate: float = 0.1,
    *,
    max_attempts: int = 1,
    retry_delay: float = 1.0,
    rate_limit: float | None = None,
) -> SenderProfile:
    profile = SenderProfile(workers=workers, mean=mean, failure_rate=failure_rate, distribution=distribution)
    return replace(profile, rate_limit=rate_limit, retry_delay=retry_delay, max_attempts=max_attempts)


SCENARIOS = {
    "exponential, failures": Scenario(messages=2000, senders=(_sender(40, 0.5, EXP, 0.05),), seed=3),
    "normal": Scenario(messages=2000, senders=(_sender(40, 0.5, NORMAL),), seed=4),
    "uniform, many failures": Scenario(messages=2000, senders=(_sender(40, 0.5, UNIFORM, 0.3),), seed=5),
    "constant": Scenario(messages=2000, senders=(_sender(40, 0.5, CONSTANT),), seed=6),
    "fewer messages than workers": Scenario(messages=30, senders=(_sender(40, 0.5, EXP),), seed=7),
    "two senders": Scenario(messages=3000, senders=(_sender(60, 0.2, EXP), _sender(40, 0.4, NORMAL)), seed=8),
    "three senders, thresholds": Scenario(
        messages=3000,
        senders=(_sender(30, 0.3, EXP), _sender(10, 1.7, UNIFORM), _sender(20, 0.7, CONSTANT, 0.5)),
        seed=9,
        thresholds=Thresholds(max_p99_s=2.0, max_failure_rate=0.2, max_duration_s=30.0),
    ),
    "four senders alike": Scenario(messages=2000, senders=(_sender(8, 0.5, EXP),) * 4, seed=12),
    "a slow sender holds its share": Scenario(
        messages=40, senders=(_sender(10, 1.0, CONSTANT, 0.0), _sender(10, 10.0, CONSTANT, 0.0)), seed=10
    ),
    "poisson arrivals, a queue at times": Scenario(
        messages=3000, senders=(_sender(40, 0.5, EXP),), seed=13, arrivals=Arrivals(rate=70.0)
    ),
    "poisson arrivals beyond capacity": Scenario(
        messages=2000, senders=(_sender(40, 0.5, NORMAL),), seed=14, arrivals=Arrivals(rate=100.0)
    ),
    "constant arrivals, uniform, latency threshold": Scenario(
        messages=2000,
        senders=(_sender(40, 0.5, UNIFORM, 0.3),),
        seed=15,
        arrivals=Arrivals(rate=75.0, process=ArrivalProcess.CONSTANT),
        thresholds=Thresholds(max_p99_latency_s=1.0),
    ),
    "constant arrivals and sends": Scenario(
        messages=500,
        senders=(_sender(10, 0.5, CONSTANT),),
        seed=16,
        arrivals=Arrivals(rate=25.0, process=ArrivalProcess.CONSTANT),
    ),
    "poisson arrivals, three senders": Scenario(
        messages=3000,
        senders=(_sender(10, 0.3, EXP), _sender(20, 1.0, NORMAL), _sender(5, 0.2, UNIFORM, 0.5)),
        seed=17,
        arrivals=Arrivals(rate=60.0),
    ),
    "retries": Scenario(messages=2000, senders=(_sender(40, 0.5, EXP, 0.2, max_attempts=2, retry_delay=1.0),), seed=3),
    "retries without delay": Scenario(
        messages=2000, senders=(_sender(40, 0.5, NORMAL, 0.3, max_attempts=3, retry_delay=0.0),), seed=4
    ),
    "retries, two senders": Scenario(
        messages=3000,
        senders=(
            _sender(60, 0.2, EXP, 0.2, max_attempts=2, retry_delay=0.3),
            _sender(40, 0.4, UNIFORM, max_attempts=2, retry_delay=1.0),
        ),
        seed=8,
    ),
    "retries, poisson arrivals": Scenario(
        messages=3000,
        senders=(_sender(40, 0.5, EXP, 0.2, max_attempts=2, retry_delay=0.5),),
        seed=13,
        arrivals=Arrivals(rate=60.0),
    ),
    "retries while the producer still loads": Scenario(
        messages=12_000, senders=(_sender(100, 0.2, NORMAL, 0.2, max_attempts=2, retry_delay=1.0),), seed=5
    ),
    "a sender's own rate limit": Scenario(messages=2000, senders=(_sender(40, 0.5, EXP, rate_limit=50.0),), seed=3),
    "a rate limit not reached": Scenario(messages=2000, senders=(_sender(40, 0.5, EXP, rate_limit=500.0),), seed=12),
    "a fleet limit over two senders": Scenario(
        messages=2000, senders=(_sender(40, 0.5, EXP), _sender(20, 0.3, NORMAL)), seed=3, fleet_rate_limit=50.0
    ),
    "both limits, poisson arrivals": Scenario(
        messages=2000,
        senders=(_sender(40, 0.5, EXP, rate_limit=40.0),),
        seed=3,
        fleet_rate_limit=60.0,
        arrivals=Arrivals(rate=50.0),
    ),
    "a limited sender beside a free one, poisson arrivals": Scenario(
        messages=2000,
        senders=(_sender(40, 0.5, EXP, rate_limit=40.0), _sender(20, 0.3, NORMAL)),
        seed=3,
        arrivals=Arrivals(rate=50.0),
    ),
    "limits, arrivals so sparse that turns go by": Scenario(
        messages=300,
        senders=(_sender(10, 0.5, EXP, rate_limit=40.0),),
        seed=4,
        fleet_rate_limit=30.0,
        arrivals=Arrivals(rate=0.8),
    ),
    "a rate limit and retries": Scenario(
        messages=2000,
        senders=(_sender(40, 0.5, UNIFORM, 0.2, max_attempts=2, retry_delay=0.5, rate_limit=60.0),),
        seed=11,
    ),
    "a fleet limit and retries": Scenario(
        messages=3000, senders=(_sender(30, 0.3, EXP, 0.2, max_attempts=2),), seed=9, fleet_rate_limit=70.0
    ),
}
"""Each distribution, failures, several senders, the tail where prefetched messages wait, steady
arrivals of each kind, under and over capacity, retries (among them a campaign larger than the
simulation's flow control holds in its queue), and rate limits: a sender's own, the fleet's over
several senders, both, with retries. Constant send times of several senders ending at the
same instant are left out: Trio orders those at random. So are retries of three attempts or more
with a delay: retries due at different times come back at once behind a longer one, idle workers take
them at one instant and Trio runs those workers (who draw the send times) in an order of its own, so
that the simulation itself varies from run to run (a drain of 2,000 messages at four attempts matched
the kernel in about half the runs; with arrivals, durations and percentiles differed by 1-5%). So are
arrivals to several senders under a fleet limit, and three senders or more under one: which worker
takes a message, among those that took their turns, depends on the order Trio ran them in around a
grant of fleet slots (a third to a half of the runs differed by a few sends)."""


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
async def test_kernel_gives_the_simulations_numbers(autojump_clock: MockClock, scenario: Scenario) -> None:
    """The kernel's summary is the simulation's, to the microsecond: duration, throughput, every percentile,
    counts per sender, thresholds and histogram (the issue asks for 1%; one seed fixes them exactly)."""
    with trio.fail_after(CAP_S):
        simulated = await run_simulation(scenario)

    modelled = run_kernel(scenario)

    assert modelled == simulated
    assert (modelled.histogram, modelled.latency) == (simulated.histogram, simulated.latency)


async def test_kernel_within_one_percent_of_retries_trio_orders(autojump_clock: MockClock) -> None:
    """Four attempts with doubling delays, where the simulation varies run to run (Trio orders idle workers taking
    retries that come back at once): duration, throughput and the send-time and latency p50/p99 stay within 1% of
    the kernel's, as issue 12 asks of the model."""
    scenario = Scenario(messages=2000, senders=(_sender(40, 0.5, EXP, 0.3, max_attempts=4, retry_delay=0.5),), seed=3)
    measures = ("duration_s", "throughput_per_s", "p50_s", "p99_s", "latency_p50_s", "latency_p99_s")
    with trio.fail_after(CAP_S):
        simulated = await run_simulation(scenario)

    modelled = run_kernel(scenario)

    for name in measures:
        assert getattr(simulated, name) == pytest.approx(getattr(modelled, name), rel=0.01), name
