"""The event-driven kernel on its own: what it models, in exact numbers (its agreement with the
simulation is in tests/component/test_kernel_agreement.py)."""

from __future__ import annotations

from dataclasses import replace

from smstrio.core.distributions import Distribution
from smstrio.core.scenario import ArrivalProcess, Arrivals, Scenario, SenderProfile, Thresholds
from smstrio.sim.kernel import run_kernel


def _constant(workers: int, mean: float, *, name: str | None = None) -> SenderProfile:
    return SenderProfile(name=name, workers=workers, mean=mean, failure_rate=0.0, distribution=Distribution.CONSTANT)


def test_constant_sends_end_after_exact_rounds() -> None:
    """1,000 messages on 100 workers at a constant 2 s end in 10 rounds: 20 s, 50/s, every send 2 s."""
    s = run_kernel(Scenario(messages=1000, senders=(_constant(100, 2.0),), seed=1))

    assert (s.duration_s, s.throughput_per_s, s.sent, s.failed, s.complete) == (20.0, 50.0, 1000, 0, True)
    assert (s.p50_s, s.p90_s, s.p95_s, s.p99_s, s.max_s) == (2.0,) * 5
    assert s.histogram.count == 1000


def test_latency_runs_from_the_start_to_each_outcome() -> None:
    """End-to-end latency counts from the start: the 500th of 10 rounds of 100 ends at 10 s, the 990th at 20 s."""
    s = run_kernel(Scenario(messages=1000, senders=(_constant(100, 2.0),), seed=1))

    assert (s.latency.count, s.latency.min, s.latency.max) == (1000, 2_000_000, 20_000_000)
    # Percentiles are the middles of their histogram buckets (within 0.4%), as everywhere.
    assert (s.latency_p50_s, s.latency_p99_s, s.latency_max_s) == (9.99424, 19.98848, 20.0)


def test_a_slow_sender_works_through_what_it_holds_while_a_fast_one_idles() -> None:
    """Each sender takes up to twice its workers at once: the slow one's 20 take 20 s, not the fast one's 2 s."""
    fast, slow = _constant(10, 1.0, name="fast"), _constant(10, 10.0, name="slow")

    s = run_kernel(Scenario(messages=40, senders=(fast, slow), seed=1))

    assert [(x.name, x.sent) for x in s.senders] == [("fast", 20), ("slow", 20)]
    assert s.duration_s == 20.0


def test_prefetch_caps_the_sends_in_flight() -> None:
    """70,000 workers hold at most 65,535 messages (the prefetch cap): 140,000 sends of 1 s take 3 rounds."""
    s = run_kernel(Scenario(messages=140_000, senders=(_constant(70_000, 1.0),), seed=1))

    assert s.duration_s == 3.0


def test_every_send_fails_at_failure_rate_one() -> None:
    """A failure rate of 1 fails every send; the observed rate is 1."""
    profile = SenderProfile(workers=10, mean=1.0, failure_rate=1.0)

    s = run_kernel(Scenario(messages=100, senders=(profile,), seed=1))

    assert (s.sent, s.failed, s.failure_rate, s.senders[0].failed) == (0, 100, 1.0, 100)


def test_zero_mean_takes_no_time() -> None:
    """Sends of mean 0 end at once: duration 0 and no throughput, as the simulation reports them."""
    s = run_kernel(Scenario(messages=100, senders=(SenderProfile(workers=10, mean=0.0),), seed=1))

    assert (s.duration_s, s.throughput_per_s, s.sent + s.failed) == (0.0, None, 100)


def test_thresholds_are_evaluated_as_the_simulation_does() -> None:
    """The scenario's thresholds pass or fail on the kernel's numbers: 20 s passes 20 s and fails 19.9 s."""
    scenario = Scenario(messages=1000, senders=(_constant(100, 2.0),), seed=1)

    passing = run_kernel(replace(scenario, thresholds=Thresholds(max_duration_s=20.0)))
    failing = run_kernel(replace(scenario, thresholds=Thresholds(max_duration_s=19.9)))

    assert (passing.passed, failing.passed) == (True, False)


def test_without_a_seed_one_is_drawn_and_reported() -> None:
    """Without a seed the kernel draws one and reports it; running again with it gives the same numbers."""
    scenario = Scenario(messages=500, senders=(SenderProfile(workers=7, mean=0.3),))

    first = run_kernel(scenario)
    again = run_kernel(replace(scenario, seed=first.seed))

    assert first.to_json() == again.to_json()
    assert first.p50_s != first.p99_s


def _steady(rate: float) -> Arrivals:
    return Arrivals(rate=rate, process=ArrivalProcess.CONSTANT)


def test_arrivals_within_capacity_never_wait() -> None:
    """100 arrivals 0.1 s apart, 10 workers of 0.5 s: none waits, each latency is its send, the last ends at 10.5 s."""
    s = run_kernel(Scenario(messages=100, senders=(_constant(10, 0.5),), seed=1, arrivals=_steady(10.0)))

    assert (s.duration_s, s.max_queue_depth, s.latency_p99_s, s.latency_max_s) == (10.5, 0, 0.5, 0.5)
    assert (s.arrival_rate_per_s, s.arrivals) == (10.0, "constant")


def test_arrivals_beyond_capacity_queue_up() -> None:
    """20 arrivals 0.25 s apart on one worker of 0.5 s: the n-th ends at 0.25 + 0.5n s, 10 wait at the last arrival."""
    s = run_kernel(Scenario(messages=20, senders=(_constant(1, 0.5),), seed=1, arrivals=_steady(4.0)))

    # The n-th arrives at 0.25n s and waits 0.25(n - 1) s: the last one's latency is 0.5 + 4.75 s.
    assert (s.duration_s, s.max_queue_depth, s.latency_max_s, s.latency.min) == (10.25, 10, 5.25, 500_000)


def test_poisson_arrivals_come_from_the_seed() -> None:
    """Poisson arrivals are drawn from the seed: the same seed gives the same run, another seed another."""
    scenario = Scenario(messages=500, senders=(SenderProfile(workers=5, mean=0.2),), seed=3, arrivals=Arrivals(rate=20))

    first, again, other = run_kernel(scenario), run_kernel(scenario), run_kernel(replace(scenario, seed=4))

    assert first.to_json() == again.to_json()
    assert (first.duration_s, first.latency_p99_s) != (other.duration_s, other.latency_p99_s)


def test_latency_threshold_is_evaluated_on_the_kernels_p99_latency() -> None:
    """max_p99_latency_s passes at the p99 latency and fails under it."""
    scenario = Scenario(messages=20, senders=(_constant(1, 0.5),), seed=1, arrivals=_steady(4.0))
    p99 = run_kernel(scenario).latency_p99_s

    passing = run_kernel(replace(scenario, thresholds=Thresholds(max_p99_latency_s=p99)))
    failing = run_kernel(replace(scenario, thresholds=Thresholds(max_p99_latency_s=p99 - 0.01)))

    assert (p99, passing.passed, failing.passed) == (5.25, True, False)
