"""Capacity planning: the fewest workers of one sender that answer a question (:mod:`smstrio.sim.questions`).

    an analytic start ──▶ the kernel around it ──▶ full simulations at the answer and one below

Either a campaign loaded at once processed within a target duration, or steady arrivals kept within a
p99 latency. The start is analytic: Little's law for the first (``messages * mean / target``
workers, each busy all the time), Erlang C or the offered load for the second. The kernel
(:mod:`smstrio.sim.kernel`) runs the campaign at that count. For a drain, what it took beyond
``messages * mean / workers`` is the tail (the last sends ending one by one), and the count
that absorbs the tail is tried next. From there the search steps towards the answer, doubling
the step, until a count passes and the one below fails, then bisects between them: a handful
of kernel runs instead of a binary search from 1 over whole simulations. Every run uses the
same seed, and passing is taken to be monotonic in the worker count, which holds exactly for
constant send times and closely for random ones (as a binary search also assumes).

With ``workers_per_process`` the count searched is of sender processes of that many workers,
each a sender of the scenario's profile, which the kernel models too.

Last, full simulations (:func:`~smstrio.sim.simulate.run_simulation`, what ``smstrio simulate``
runs) at the answer and one below must pass and fail as the kernel said; ``verify=False`` skips
them. Run :func:`plan_workers` under a MockClock: the simulations then take no real waiting.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace

import trio

from smstrio.core.logs import event
from smstrio.core.scenario import Scenario
from smstrio.sim.kernel import run_kernel
from smstrio.sim.questions import estimate, goal, impossible
from smstrio.sim.scaling import Scaling
from smstrio.sim.trials import Plan, Trial

log = logging.getLogger(__name__)


async def plan_workers(
    scenario: Scenario,
    *,
    max_workers: int,
    workers_per_process: int | None = None,
    scale: str | None = None,
    verify: bool = True,
) -> Plan:
    """The fewest workers that pass the scenario's thresholds, which must set the question's limit: a duration
    (messages loaded at once) or a p99 latency (steady arrivals); see :mod:`.questions`.

    With one sender profile, the fewest workers of it, or with ``workers_per_process`` the fewest sender
    processes of that many workers. With several, the smallest factor that scales every profile's workers,
    or, with ``scale``, the fewest workers of that profile while the others keep theirs (:mod:`.scaling`).
    """
    if scenario.seed is None:
        scenario = replace(scenario, seed=random.SystemRandom().randrange(2**32))
    scaling = Scaling(scenario=scenario, per_process=workers_per_process, name=scale)
    aim, most = goal(scenario), scaling.most(max_workers)
    guess = estimate(scaling, most)
    event(
        log,
        "planning",
        messages=scenario.messages,
        estimate=guess.workers,
        estimate_by=guess.basis,
        max_workers=max_workers,
        seed=scenario.seed,
    )
    trials: list[Trial] = []

    def answer(count: int | None, reason: str | None, proof: Trial | None = None, below: Trial | None = None) -> Plan:
        return Plan(
            goal=aim,
            estimate=guess,
            workers=None if count is None else scaling.workers(count),
            processes=None if count is None or workers_per_process is None else count,
            reason=reason,
            trials=tuple(trials),
            proof=proof,
            below=below,
        )

    reason = impossible(scaling, max_workers=max_workers)
    if reason is not None:
        return answer(None, reason)
    search = _Search(scaling, most)
    count = await search.fewest(guess.count)
    if count is not None:
        await search.around(count)
    trials += search.trials.values()
    if count is None:
        proof = search.trials[search.most]
        return answer(None, f"even {proof.layout} {aim.took(proof.summary, present=True)} > {aim.limit:g} s", proof)
    if not verify:
        return answer(count, None, search.trials[count])
    proof = await _simulate(search.at(count))
    trials.append(proof)
    below = None
    if count > 1 and proof.passed:
        below = await _simulate(search.at(count - 1))
        trials.append(below)
    reason = _disagreement(scenario, search.trials, {count: proof, count - 1: below})
    return answer(None if reason else count, reason, proof, below)


class _Search:
    """Kernel runs of one scenario at counts (:class:`~.scaling.Scaling`), each made once."""

    def __init__(self, scaling: Scaling, most: int) -> None:
        self.scenario = scaling.scenario
        self.at = scaling.at
        self.scaling = scaling
        self.most = most
        """The largest count to try."""
        self.trials: dict[int, Trial] = {}

    async def passes(self, count: int) -> bool:
        """Whether the kernel's run at ``count`` passes; a checkpoint after each run, so Ctrl-C is heard."""
        if count not in self.trials:
            trial = Trial(by="kernel", summary=run_kernel(self.at(count)))
            self.trials[count] = trial
            event(log, "plan trial", by="kernel", workers=trial.workers, duration_s=trial.summary.duration_s)
            await trio.lowlevel.checkpoint()
        return self.trials[count].passed

    async def around(self, count: int) -> None:
        """Kernel runs 10% either side of ``count`` (at least 2), for the curve around the answer: with the
        search's own runs near it, the curve shows both the answer's edge and where the slope leads."""
        step = max(2, round(count / 10))
        for other in (count - step, count + step):
            if 1 <= other <= self.most and other not in self.trials:
                await self.passes(other)

    async def fewest(self, guess: int) -> int | None:
        """The fewest passing count, searching from Little's law's ``guess``; ``None`` if ``most`` fails."""
        await self.passes(guess)
        start = guess if self.scenario.arrivals else min(self.most, self._absorbing(guess))
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
                if failing == self.most:
                    return None
                candidate = min(self.most, failing + step)
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

    def _absorbing(self, count: int) -> int:
        """The count whose busy time plus the tail of the run at ``count`` fits the target (the most if none can)."""
        messages, target = self.scenario.messages, goal(self.scenario).limit
        tail = self.trials[count].summary.duration_s - messages / self.scaling.capacity(count)
        return self.scaling.count_for(messages / (target - tail)) if tail < target else self.most


async def _simulate(scenario: Scenario) -> Trial:
    # Imported here: the simulation brings the web stack, which a plan without verification need not load.
    from smstrio.sim.simulate import run_simulation

    trial = Trial(by="simulation", summary=await run_simulation(scenario))
    event(log, "plan trial", by="simulation", workers=trial.workers, duration_s=trial.summary.duration_s)
    return trial


def _disagreement(scenario: Scenario, kernel: dict[int, Trial], simulated: dict[int, Trial | None]) -> str | None:
    """Where the full simulations contradict the kernel, in one line; ``None`` when they confirm it."""
    aim = goal(scenario)
    for count, run in simulated.items():
        if run is not None and run.passed != kernel[count].passed:
            return (
                f"the full simulation at {run.layout} {aim.took(run.summary)}, the kernel "
                f"{aim.of(kernel[count].summary):g} s ({'target' if aim.measure == 'duration_s' else 'limit'} "
                f"{aim.limit:g} s): the kernel no longer models the simulation"
            )
    return None
