"""The plan as a human reads it: the answer, the trials around it, the summaries that prove it. Pure."""

from __future__ import annotations

from smstrio.core.scenario import Scenario
from smstrio.core.summary import render
from smstrio.sim.plan import Plan, Trial
from smstrio.sim.questions import goal


def render_plan(plan: Plan, scenario: Scenario) -> str:
    """The answer in one line, a table of every run by worker count, then the deciding runs' summaries."""
    lines = []
    if plan.workers is not None and plan.proof is not None:
        answer = f"{plan.workers} workers"
        if plan.processes is not None:
            answer = f"{plan.processes} sender processes of {plan.workers // plan.processes} workers ({answer})"
        limit, arrivals = goal(scenario).limit, scenario.arrivals
        if arrivals is None:
            question = f"process {scenario.messages} messages within {limit:g} s"
        else:
            question = (
                f"keep the p99 latency of {arrivals.rate:g} messages/s ({arrivals.process.value}) for "
                f"{scenario.messages / arrivals.rate:g} s within {limit:g} s, at most "
                f"{plan.proof.summary.max_queue_depth} waiting"
            )
        lines += [f"{answer}: the fewest that {question} ({plan.estimate.basis}: {plan.estimate.workers} workers)", ""]
    if plan.trials:
        lines += [_table(plan.trials, processes=plan.processes is not None), ""]
    if plan.proof is not None:
        lines += [_heading(plan.proof), render(plan.proof.summary), ""]
    if plan.below is not None:
        lines += [_heading(plan.below), render(plan.below.summary), ""]
    if plan.workers is not None and not plan.verified:
        lines.append("  not verified by full simulations (--no-verify): the answer is the kernel's")
    return "\n".join(lines).rstrip("\n")


def _heading(trial: Trial) -> str:
    what = "full simulation" if trial.by == "simulation" else "kernel"
    return f"{what} at {trial.layout} ({'passes' if trial.passed else 'fails'}):"


def _table(trials: tuple[Trial, ...], *, processes: bool) -> str:
    """One row per run, by worker count; with ``processes``, a column of sender processes first."""
    header = ("processes", "workers", "by", "duration", "throughput", "p99 send", "p99 latency", "max queue", "passed")
    rows = [
        (
            str(t.processes),
            str(t.workers),
            t.by,
            f"{t.summary.duration_s:.3f} s",
            "-" if t.summary.throughput_per_s is None else f"{t.summary.throughput_per_s:g}/s",
            f"{t.summary.p99_s:g} s",
            f"{t.summary.latency_p99_s:g} s",
            str(t.summary.max_queue_depth),
            "yes" if t.passed else "no",
        )
        for t in sorted(trials, key=lambda t: (t.workers, t.by))
    ]
    shown = [row[0 if processes else 1 :] for row in [header, *rows]]
    by = shown[0].index("by")
    widths = [max(len(row[i]) for row in shown) for i in range(len(shown[0]))]
    aligned = [
        [cell.ljust(w) if i == by else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        for row in shown
    ]
    return "\n".join("  " + "  ".join(row) for row in aligned)
