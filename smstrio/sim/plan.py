"""Capacity planning: the fewest workers that pass a scenario's thresholds, by binary search over simulations."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from typing import Any

from smstrio.core.logs import event
from smstrio.core.scenario import Scenario
from smstrio.core.summary import SimulationSummary
from smstrio.sim.simulate import run_simulation

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The answer of :func:`fewest_workers` and the runs that led to it."""

    workers: int | None
    """The fewest workers that passed; ``None`` when even the most allowed did not."""
    trials: tuple[tuple[int, SimulationSummary], ...]
    """Each run, in the order made: its worker count and summary."""
    proof: SimulationSummary
    """The run at ``workers`` (or at the most allowed, which failed)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "trials": [{"workers": w, "duration_s": s.duration_s, "passed": s.passed} for w, s in self.trials],
            "summary": self.proof.to_json(),
        }


async def fewest_workers(scenario: Scenario, *, max_workers: int) -> Plan:
    """The fewest workers for the scenario's one sender that pass its thresholds: a binary search over runs.

    Every run uses the same seed (drawn once when the scenario has none), and passing is
    assumed monotonic in the worker count, which holds exactly for constant send times
    and closely for random ones. Run it under a MockClock: each run then takes no real waiting.
    """
    if len(scenario.senders) != 1:
        raise ValueError("planning needs a scenario with exactly one sender")
    if scenario.seed is None:
        scenario = replace(scenario, seed=random.SystemRandom().randrange(2**32))
    trials: list[tuple[int, SimulationSummary]] = []
    passing: dict[int, SimulationSummary] = {}

    async def passes(workers: int) -> bool:
        profile = replace(scenario.senders[0], workers=workers)
        summary = await run_simulation(replace(scenario, senders=(profile,)))
        trials.append((workers, summary))
        event(log, "plan trial", workers=workers, duration_s=summary.duration_s, passed=summary.passed)
        if summary.passed:
            passing[workers] = summary
        return summary.passed

    if not await passes(max_workers):
        return Plan(workers=None, trials=tuple(trials), proof=trials[-1][1])
    failing, passed = 0, max_workers
    while passed - failing > 1:
        middle = (failing + passed) // 2
        if await passes(middle):
            passed = middle
        else:
            failing = middle
    return Plan(workers=passed, trials=tuple(trials), proof=passing[passed])
