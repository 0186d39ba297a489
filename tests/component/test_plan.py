"""The capacity planner: its answers against a full binary search, impossible questions, a drifted kernel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
import trio
from trio.testing import MockClock

from smstrio.core.distributions import Distribution
from smstrio.core.scenario import Arrivals, Scenario, SenderProfile, Thresholds
from smstrio.core.summary import SimulationSummary
from smstrio.sim import plan
from smstrio.sim.kernel import run_kernel
from smstrio.sim.plan import plan_workers
from smstrio.sim.scaling import Scaling
from smstrio.sim.simulate import run_simulation

CAP_S = 100_000.0
"""A virtual-time cap on each test, so that a search that never ends fails instead of hanging."""

EXP, UNIFORM, CONSTANT = Distribution.EXPONENTIAL, Distribution.UNIFORM, Distribution.CONSTANT


def _sender(workers: int, mean: float, distribution: Distribution, failure_rate: float = 0.1) -> SenderProfile:
    return SenderProfile(workers=workers, mean=mean, failure_rate=failure_rate, distribution=distribution)


def _with_workers(scenario: Scenario, workers: int) -> Scenario:
    return replace(scenario, senders=(replace(scenario.senders[0], workers=workers),))


async def _binary_search(passes: Callable[[int], Awaitable[bool]], most: int) -> int:
    """What ``smstrio plan`` answered before the kernel: a binary search from 1 over full simulations."""
    assert await passes(most)
    failing, passing = 0, most
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if await passes(middle):
            passing = middle
        else:
            failing = middle
    return passing


@pytest.mark.parametrize("distribution", [EXP, UNIFORM])
async def test_verified_answer_is_the_full_binary_searchs(
    autojump_clock: MockClock, distribution: Distribution
) -> None:
    """On 1,000 messages the planner answers what a binary search over full simulations answers, and
    full simulations at the answer (pass) and one fewer (fail) confirm it."""
    scenario = Scenario(
        messages=1000, senders=(_sender(1, 0.5, distribution),), seed=11, thresholds=Thresholds(max_duration_s=20.0)
    )

    async def passes(workers: int) -> bool:
        return (await run_simulation(_with_workers(scenario, workers))).passed

    with trio.fail_after(CAP_S):
        expected = await _binary_search(passes, 100)
        result = await plan_workers(scenario, max_workers=100)

    assert (result.workers, result.reason, result.verified) == (expected, None, True)
    assert result.proof is not None
    assert result.below is not None
    assert (result.proof.by, result.proof.workers, result.proof.passed) == ("simulation", expected, True)
    assert (result.below.by, result.below.workers, result.below.passed) == ("simulation", expected - 1, False)


async def test_processes_answer_is_the_full_binary_searchs(autojump_clock: MockClock) -> None:
    """With 5 workers a process, the fewest processes are what a binary search over full simulations of
    that many senders answers: 6 (30 workers), where one sender needs 29."""
    scenario = Scenario(
        messages=1000, senders=(_sender(1, 0.5, EXP),), seed=11, thresholds=Thresholds(max_duration_s=20.0)
    )

    async def passes(processes: int) -> bool:
        senders = (_sender(5, 0.5, EXP),) * processes
        return (await run_simulation(replace(scenario, senders=senders))).passed

    with trio.fail_after(CAP_S):
        expected = await _binary_search(passes, 20)
        result = await plan_workers(scenario, max_workers=100, workers_per_process=5)

    assert (expected, result.processes, result.workers, result.reason) == (6, 6, 30, None)
    assert result.proof is not None
    assert result.below is not None
    assert [(t.processes, t.workers, t.passed) for t in (result.proof, result.below)] == [(6, 30, True), (5, 25, False)]


async def test_search_starts_at_littles_law_and_tries_a_handful(autojump_clock: MockClock) -> None:
    """100,000 messages of 2 s within 600 s: Little's law says 334, its tail points to 339, 338 fails: three runs
    to the answer, then 10% either side of it for the curve."""
    scenario = Scenario(
        messages=100_000,
        senders=(_sender(1, 2.0, EXP, 0.05),),
        seed=7,
        thresholds=Thresholds(max_duration_s=600.0),
    )

    result = await plan_workers(scenario, max_workers=10_000, verify=False)

    assert (result.estimate.workers, result.workers, result.verified, result.below) == (334, 339, False, None)
    assert [(t.workers, t.by, t.passed) for t in result.trials] == [
        (334, "kernel", False),
        (339, "kernel", True),
        (338, "kernel", False),
        (305, "kernel", False),
        (373, "kernel", True),
    ]
    assert [t.workers for t in result.curve] == [305, 334, 338, 339, 373]


@pytest.mark.parametrize(
    ("target", "max_workers", "reason"),
    [
        (0.5, 100, "a target of 0.5 s is under one mean send time (1 s): no worker count meets it"),
        (
            10.0,
            5,
            "100 messages of 1 s within 10 s need at least 10 workers (messages * mean / target), "
            "more than --max-workers 5",
        ),
    ],
)
async def test_impossible_question_is_answered_without_a_run(
    autojump_clock: MockClock, target: float, max_workers: int, reason: str
) -> None:
    """A target under one mean send time, or Little's law above the most workers: the reason, and no run."""
    scenario = Scenario(
        messages=100, senders=(_sender(1, 1.0, CONSTANT),), seed=1, thresholds=Thresholds(max_duration_s=target)
    )

    result = await plan_workers(scenario, max_workers=max_workers)

    assert (result.workers, result.reason, result.trials, result.proof) == (None, reason, (), None)


async def test_full_simulations_overrule_a_kernel_that_drifted(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel modelling one worker too many is caught by the full simulation at its answer: no answer, the reason."""

    def one_worker_more(scenario: Scenario) -> SimulationSummary:
        return run_kernel(_with_workers(scenario, scenario.senders[0].workers + 1))

    monkeypatch.setattr(plan, "run_kernel", one_worker_more)
    scenario = Scenario(
        messages=100, senders=(_sender(1, 1.0, CONSTANT),), seed=1, thresholds=Thresholds(max_duration_s=10.0)
    )

    result = await plan_workers(scenario, max_workers=100)

    assert result.workers is None
    assert result.reason == (
        "the full simulation at 9 workers took 12 s, the kernel 10 s (target 10 s): "
        "the kernel no longer models the simulation"
    )
    assert (result.below, [(t.workers, t.by) for t in result.trials][-1]) == (None, (9, "simulation"))


def _arriving(rate: float, duration: float, limit: float, sender: SenderProfile) -> Scenario:
    return Scenario(
        messages=round(rate * duration),
        senders=(sender,),
        seed=3,
        arrivals=Arrivals(rate=rate),
        thresholds=Thresholds(max_p99_latency_s=limit),
    )


async def test_arrivals_answer_is_the_full_binary_searchs(autojump_clock: MockClock) -> None:
    """20 messages/s for 60 s of exponential 1 s sends within a p99 latency of 5 s: Erlang C says 23, the kernel
    finds 23 fails and 24 passes, and a binary search over full simulations answers 24 too."""
    scenario = _arriving(20.0, 60.0, 5.0, _sender(1, 1.0, EXP))

    async def passes(workers: int) -> bool:
        return (await run_simulation(_with_workers(scenario, workers))).passed

    with trio.fail_after(CAP_S):
        expected = await _binary_search(passes, 40)
        result = await plan_workers(scenario, max_workers=40)

    assert (result.estimate.basis, result.estimate.workers) == ("Erlang C", 23)
    assert (expected, result.workers, result.reason, result.verified) == (24, 24, None, True)
    assert [(t.workers, t.by, t.passed) for t in result.trials] == [
        (23, "kernel", False),
        (24, "kernel", True),
        (22, "kernel", False),
        (26, "kernel", True),
        (24, "simulation", True),
        (23, "simulation", False),
    ]
    assert result.proof is not None
    assert (result.proof.summary.latency_p99_s, result.proof.summary.max_queue_depth) == (4.866048, 14)


async def test_arrivals_of_other_distributions_start_at_the_offered_load(autojump_clock: MockClock) -> None:
    """Uniform sends start from the offered load plus its square root: 20/s of 1 s is 20 + 4.47, so 25; the search
    steps down, doubling its step, to 18 that fails, then bisects to 21; 19 and 23 (10% either side, at least 2)
    add to the curve."""
    result = await plan_workers(_arriving(20.0, 60.0, 3.0, _sender(1, 1.0, UNIFORM)), max_workers=40, verify=False)

    assert (result.estimate.basis, result.estimate.workers, result.workers) == (
        "offered load + its square root",
        25,
        21,
    )
    assert [(t.workers, t.passed) for t in result.trials] == [
        (25, True),
        (24, True),
        (22, True),
        (18, False),
        (20, False),
        (21, True),
        (19, False),
        (23, True),
    ]


@pytest.mark.parametrize(
    ("limit", "max_workers", "reason"),
    [
        (
            4.0,
            100,
            "a p99 latency of 4 s is under the p99 of one send (4.60517 s, exponential of mean 1 s): "
            "no worker count meets it",
        ),
        (
            5.0,
            20,
            "20 messages/s of 1 s sends keep 20 workers busy on average (rate * mean): "
            "--max-workers 20 cannot keep up, the queue grows without end",
        ),
    ],
)
async def test_impossible_arrivals_are_answered_without_a_run(
    autojump_clock: MockClock, limit: float, max_workers: int, reason: str
) -> None:
    """A latency limit under one send's own p99, or arrivals the most workers cannot serve: the reason, no run."""
    result = await plan_workers(_arriving(20.0, 60.0, limit, _sender(1, 1.0, EXP)), max_workers=max_workers)

    assert (result.workers, result.reason, result.trials, result.proof) == (None, reason, (), None)


FAST = SenderProfile(name="fast", workers=3, mean=0.5, failure_rate=0.1)
SLOW = SenderProfile(name="slow", workers=1, mean=2.0, failure_rate=0.1, distribution=Distribution.NORMAL)
PROFILES = Scenario(messages=1000, senders=(FAST, SLOW), seed=11, thresholds=Thresholds(max_duration_s=30.0))
"""Two profiles of 3 and 1 workers: every count shares its workers 3:1, or scales the slow one alone."""


@pytest.mark.parametrize(
    ("scale", "most", "expected", "senders"),
    [(None, 40, 22, {"fast": 16, "slow": 6}), ("slow", 100, 62, {"fast": 3, "slow": 62})],
)
async def test_profiles_answer_is_the_full_binary_searchs(
    autojump_clock: MockClock, scale: str | None, most: int, expected: int, senders: dict[str, int]
) -> None:
    """Several profiles scale by one factor (22 workers, shared 3:1 and rounded), or one named profile scales
    while the other keeps its 3 workers (62 slow ones): what a binary search over full simulations answers."""
    scaling = Scaling(scenario=PROFILES, name=scale)

    async def passes(count: int) -> bool:
        return (await run_simulation(scaling.at(count))).passed

    with trio.fail_after(CAP_S):
        found = await _binary_search(passes, most)
        result = await plan_workers(PROFILES, max_workers=200, scale=scale)

    assert (found, result.workers, result.reason, result.verified) == (expected, sum(senders.values()), None, True)
    assert result.proof is not None
    assert result.to_json()["senders"] == senders
    if scale is not None:
        assert {t.summary.senders[0].workers for t in result.trials} == {3}  # the fast profile never changed


@pytest.mark.parametrize(("max_attempts", "estimate", "answer"), [(1, 40, 40), (2, 60, 62)])
async def test_retries_raise_the_answer_as_mean_attempts_say(
    autojump_clock: MockClock, max_attempts: int, estimate: int, answer: int
) -> None:
    """4,000 messages of 1 s within 100 s, half the sends failing: two attempts make 1.5 sends a message, so Little's
    law starts at 60 workers instead of 40, and the verified answer moves with it (62 instead of 40)."""
    profile = replace(_sender(1, 1.0, EXP, 0.5), max_attempts=max_attempts, retry_delay=1.0)
    scenario = Scenario(messages=4000, senders=(profile,), seed=7, thresholds=Thresholds(max_duration_s=100.0))

    with trio.fail_after(CAP_S):
        result = await plan_workers(scenario, max_workers=1000)

    assert (result.estimate.workers, result.workers, result.verified) == (estimate, answer, True)
