"""What the planner found: each run (:class:`Trial`) and the answer with the runs that led to it (:class:`Plan`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from smstrio.core.summary import SimulationSummary
from smstrio.sim.questions import Estimate, Goal


@dataclass(frozen=True, slots=True, kw_only=True)
class Trial:
    """One run of the campaign at a worker count, by the kernel or by a full simulation."""

    by: Literal["kernel", "simulation"]
    summary: SimulationSummary

    @property
    def workers(self) -> int:
        """Every sender's workers together."""
        return sum(s.workers for s in self.summary.senders)

    @property
    def processes(self) -> int:
        """Sender processes: the number of senders."""
        return len(self.summary.senders)

    @property
    def layout(self) -> str:
        """``N workers``; ``P processes of W workers`` for several unnamed senders alike; else
        ``N workers = a 3 + b 5``, each profile's."""
        senders = self.summary.senders
        if len(senders) == 1:
            return f"{self.workers} workers"
        unnamed = all(s.name == f"sender-{i}" for i, s in enumerate(senders, 1))
        if unnamed and len({s.workers for s in senders}) == 1:
            return f"{self.processes} processes of {senders[0].workers} workers"
        return f"{self.workers} workers = {' + '.join(f'{s.name} {s.workers}' for s in senders)}"

    @property
    def passed(self) -> bool:
        return self.summary.passed

    def to_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "workers": self.workers,
            "processes": self.processes,
            "senders": {s.name: s.workers for s in self.summary.senders},
            "by": self.by,
            "duration_s": s.duration_s,
            "throughput_per_s": s.throughput_per_s,
            "p50_s": s.p50_s,
            "p99_s": s.p99_s,
            "latency_p99_s": s.latency_p99_s,
            "max_queue_depth": s.max_queue_depth,
            "passed": s.passed,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The answer of :func:`plan_workers` and the runs that led to it."""

    goal: Goal
    """What the question measures, and its limit."""
    estimate: Estimate
    """Where the search started (Little's law, Erlang C, ...)."""
    workers: int | None
    """The fewest workers that pass; ``None`` when there is no answer (``reason`` says why)."""
    processes: int | None
    """With ``workers_per_process``: the fewest sender processes of that many workers that pass."""
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
    def curve(self) -> tuple[Trial, ...]:
        """The kernel's runs by worker count: the search's, and those either side of the answer."""
        return tuple(sorted((t for t in self.trials if t.by == "kernel"), key=lambda t: t.workers))

    @property
    def verified(self) -> bool:
        """Whether full simulations decided (not only the kernel)."""
        return self.proof is not None and self.proof.by == "simulation"

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.goal.measure,
            "limit": self.goal.limit,
            "estimate": self.estimate.workers,
            "estimate_by": self.estimate.basis,
            "workers": self.workers,
            "processes": self.processes,
            "reason": self.reason,
            "verified": self.verified,
            "trials": [t.to_json() for t in self.trials],
            "curve": [t.to_json() for t in self.curve],
            "senders": None
            if self.workers is None or self.proof is None
            else {s.name: s.workers for s in self.proof.summary.senders},
            "summary": None if self.proof is None else self.proof.summary.to_json(),
            "below": None if self.below is None else self.below.summary.to_json(),
        }
