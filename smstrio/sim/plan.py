"""Capacity planning: the fewest workers of one sender that process a campaign within a target duration.

    Little's law ──▶ the kernel around it ──▶ full simulations at the answer and one below

Little's law gives the start: ``messages * mean / target`` workers, each busy all the time.
The kernel (:mod:`smstrio.sim.kernel`) runs the campaign at that count; what it took beyond
``messages * mean / workers`` is the tail (the last sends ending one by one), and the count
that absorbs the tail is tried next. From there the search steps towards the answer, doubling
the step, until a count passes and the one below fails, then bisects between them: a handful
of kernel runs instead of a binary search from 1 over whole simulations. Every run uses the
same seed, and passing is taken to be monotonic in the worker count, which holds exactly for
constant send times and closely for random ones (as a binary search also assumes).

Last, full simulations (:func:`~smstrio.sim.simulate.run_simulation`, what ``smstrio simulate``
runs) at the answer and one below must pass and fail as the kernel said; ``verify=False`` skips
them. Run :func:`plan_workers` under a MockClock: the simulations then take no real waiting.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, replace
from typing import Any, Literal

import trio

from smstrio.core.logs import event
from smstrio.core.scenario import Scenario
from smstrio.core.summary import SimulationSummary
from smstrio.sim.kernel import run_kernel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Trial:
    """One run of the campaign at a worker count, by the kernel or by a full simulation."""

    workers: int
    by: Literal["kernel", "simulation"]
    summary: SimulationSummary
    latency_p99_s: float | None = None
    """The kernel's p99 end-to-end latency (from the start to each outcome); a simulation on a
    virtual clock does not measure it."""

    @property
    def passed(self) -> bool:
        return self.summary.passed

    def to_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "workers": self.workers,
            "by": self.by,
            "duration_s": s.duration_s,
            "throughput_per_s": s.throughput_per_s,
            "p50_s": s.p50_s,
            "p99_s": s.p99_s,
            "latency_p99_s": self.latency_p99_s,
            "passed": s.passed,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The answer of :func:`plan_workers` and the runs that led to it."""

    estimate: int
    """Little's law: ``messages * mean / target``, rounded up."""
    workers: int | None
    """The fewest workers that pass; ``None`` when there is no answer (``reason`` says why)."""
    reason: str | None
    """Why there is no answer, in one line; ``None`` when there is one."""
    trials: tuple[Trial, ...]
    """Every run, in the order made: the kernel's, then the full simulations'."""
    proof: Trial | None
    """The deciding run at ``workers`` (a full simulation unless not verified), or the run that
    failed; ``None`` when the question was impossible before any run."""
    below: Trial | None
    """The full simulation at one worker fewer, which must fail; ``None`` without verification, at 1 worker,
    or when the full simulation at ``workers`` failed already."""

    @property
    def verified(self) -> bool:
        """Whether full simulations decided (not only the kernel)."""
        return self.proof is not None and self.proof.by == "simulation"

    def to_json(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "workers": self.workers,
            "reason": self.reason,
            "verified": self.verified,
            "trials": [t.to_json() for t in self.trials],
            "summary": None if self.proof is None else self.proof.summary.to_json(),
            "below": None if self.below is None else self.below.summary.to_json(),
        }


def estimate(scenario: Scenario) -> int:
    """Little's law: the workers that process the messages within the target if each is always busy."""
    target, (profile,) = _target(scenario), scenario.senders
    return max(1, math.ceil(scenario.messages * profile.mean / target))


def impossible(scenario: Scenario, *, max_workers: int) -> str | None:
    """Why no worker count up to ``max_workers`` can pass, when that is clear without a run; else ``None``."""
    target, (profile,) = _target(scenario), scenario.senders
    if target < profile.mean:
        return f"a target of {target:g} s is under one mean send time ({profile.mean:g} s): no worker count meets it"
    needed = estimate(scenario)
    if needed > max_workers:
        return (
            f"{scenario.messages} messages of {profile.mean:g} s within {target:g} s need at least {needed} "
            f"workers (messages * mean / target), more than --max-workers {max_workers}"
        )
    return None


async def plan_workers(scenario: Scenario, *, max_workers: int, verify: bool = True) -> Plan:
    """The fewest workers for the scenario's one sender that pass its thresholds, which must set a duration."""
    if scenario.seed is None:
        scenario = replace(scenario, seed=random.SystemRandom().randrange(2**32))
    guess = estimate(scenario)
    event(log, "planning", messages=scenario.messages, estimate=guess, max_workers=max_workers, seed=scenario.seed)
    reason = impossible(scenario, max_workers=max_workers)
    if reason is not None:
        return Plan(estimate=guess, workers=None, reason=reason, trials=(), proof=None, below=None)
    search = _Search(scenario, max_workers)
    workers = await search.fewest(guess)
    trials = list(search.trials.values())
    if workers is None:
        proof = search.trials[max_workers]
        reason = f"even {max_workers} workers take {proof.summary.duration_s:g} s > {_target(scenario):g} s"
        return Plan(estimate=guess, workers=None, reason=reason, trials=tuple(trials), proof=proof, below=None)
    if not verify:
        proof = search.trials[workers]
        return Plan(estimate=guess, workers=workers, reason=None, trials=tuple(trials), proof=proof, below=None)
    proof = await _simulate(scenario, workers)
    trials.append(proof)
    below = None
    if workers > 1 and proof.passed:
        below = await _simulate(scenario, workers - 1)
        trials.append(below)
    reason = _disagreement(scenario, search.trials, proof, below)
    return Plan(
        estimate=guess,
        workers=None if reason else workers,
        reason=reason,
        trials=tuple(trials),
        proof=proof,
        below=below,
    )


class _Search:
    """Kernel runs of one scenario at worker counts, each made once."""

    def __init__(self, scenario: Scenario, max_workers: int) -> None:
        self.scenario = scenario
        self.max_workers = max_workers
        self.trials: dict[int, Trial] = {}

    async def passes(self, workers: int) -> bool:
        """Whether the kernel's run at ``workers`` passes; a checkpoint after each run, so Ctrl-C is heard."""
        if workers not in self.trials:
            run = run_kernel(_with_workers(self.scenario, workers))
            trial = Trial(workers=workers, by="kernel", summary=run.summary, latency_p99_s=run.latency_p99_s)
            self.trials[workers] = trial
            event(log, "plan trial", by="kernel", workers=workers, duration_s=trial.summary.duration_s)
            await trio.lowlevel.checkpoint()
        return self.trials[workers].passed

    async def fewest(self, guess: int) -> int | None:
        """The fewest passing workers, searching from Little's law's ``guess``; ``None`` if ``max_workers`` fails."""
        await self.passes(guess)
        start = min(self.max_workers, max(1, self._absorbing(self.trials[guess])))
        if await self.passes(start):
            passing, step = start, 1
            while True:  # down, doubling the step, to a count that fails (0 workers always do)
                if passing == 1:
                    failing = 0
                    break
                candidate = max(1, passing - step)
                if not await self.passes(candidate):
                    failing = candidate
                    break
                passing, step = candidate, 2 * step
        else:
            failing, step = start, 1
            while True:  # up, doubling the step, to a count that passes
                if failing == self.max_workers:
                    return None
                candidate = min(self.max_workers, failing + step)
                if await self.passes(candidate):
                    passing = candidate
                    break
                failing, step = candidate, 2 * step
        while passing - failing > 1:
            middle = (failing + passing) // 2
            if await self.passes(middle):
                passing = middle
            else:
                failing = middle
        return passing

    def _absorbing(self, trial: Trial) -> int:
        """The workers whose busy time plus ``trial``'s tail fits the target (Little's law if it cannot)."""
        (profile,) = self.scenario.senders
        work = self.scenario.messages * profile.mean
        tail = trial.summary.duration_s - work / trial.workers
        target = _target(self.scenario)
        return math.ceil(work / (target - tail)) if tail < target else self.max_workers


async def _simulate(scenario: Scenario, workers: int) -> Trial:
    # Imported here: the simulation brings the web stack, which a plan without verification need not load.
    from smstrio.sim.simulate import run_simulation

    summary = await run_simulation(_with_workers(scenario, workers))
    event(log, "plan trial", by="simulation", workers=workers, duration_s=summary.duration_s)
    return Trial(workers=workers, by="simulation", summary=summary)


def _disagreement(scenario: Scenario, kernel: dict[int, Trial], proof: Trial, below: Trial | None) -> str | None:
    """Where the full simulations contradict the kernel, in one line; ``None`` when they confirm it."""
    for run in (proof, below):
        if run is not None and run.passed != kernel[run.workers].passed:
            return (
                f"the full simulation at {run.workers} workers took {run.summary.duration_s:g} s, the kernel "
                f"{kernel[run.workers].summary.duration_s:g} s (target {_target(scenario):g} s): "
                "the kernel no longer models the simulation"
            )
    return None


def _target(scenario: Scenario) -> float:
    if len(scenario.senders) != 1:
        raise ValueError("planning needs a scenario with exactly one sender")
    target = scenario.thresholds.max_duration_s
    if target is None:
        raise ValueError("planning needs a target duration (thresholds.max_duration_s)")
    return target


def _with_workers(scenario: Scenario, workers: int) -> Scenario:
    return replace(scenario, senders=(replace(scenario.senders[0], workers=workers),))
