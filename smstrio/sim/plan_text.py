"""The plan as a human reads it: the answer, the runs around it as a table, the summaries that prove it. Pure.

:func:`render_plan` gives plain text (for a pipe or a file); :func:`plan_parts` gives the same parts
with the table and the summaries drawn by ``rich``, for a terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from smstrio.core.scenario import Scenario
from smstrio.core.summary import render
from smstrio.sim.summary_view import summary_view
from smstrio.sim.trials import Plan, Trial

COLUMNS: tuple[str, ...] = (
    "processes",
    "workers",
    "by",
    "duration",
    "throughput",
    "p99 send",
    "p99 latency",
    "max queue",
    "passed",
)
"""The table's columns; ``processes`` only when the answer is in sender processes, and before ``workers`` each
profile's workers when there are several."""


def render_plan(plan: Plan, scenario: Scenario) -> str:
    """The plan as plain text: the answer in one line, a table of every run by worker count, the summaries."""
    return "\n\n".join(str(part) for part in plan_parts(plan, scenario, plain=True)).rstrip("\n")


def plan_parts(plan: Plan, scenario: Scenario, *, plain: bool = False) -> Iterator[Any]:
    """The plan's parts in order: strings, and the table and the summaries, which ``rich`` draws unless ``plain``."""
    answer = answer_line(plan, scenario)
    if answer is not None:
        yield answer
    if plan.trials:
        yield _plain_table(plan) if plain else rich_table(plan)
    for trial in (plan.proof, plan.below):
        if trial is not None:
            what = "full simulation" if trial.by == "simulation" else "kernel"
            title = f"{what} at {trial.layout} ({'passes' if trial.passed else 'fails'}):"
            if plain:
                yield f"{title}\n{render(trial.summary)}"
            else:
                yield Group(
                    Text(title, style="green" if trial.passed else "red"),
                    Padding(summary_view(trial.summary), (0, 0, 0, 2)),
                )
    if plan.workers is not None and not plan.verified:
        yield "  not verified by full simulations (--no-verify): the answer is the kernel's"


def answer_line(plan: Plan, scenario: Scenario) -> str | None:
    """``N workers: the fewest that ...``, with the question's terms and where the search started; ``None``
    without an answer."""
    if plan.workers is None or plan.proof is None:
        return None
    answer, senders = f"{plan.workers} workers", plan.proof.summary.senders
    if plan.processes is not None:
        answer = f"{plan.processes} sender processes of {plan.workers // plan.processes} workers ({answer})"
    elif len(senders) > 1:
        answer = plan.proof.layout
    limit, arrivals = plan.goal.limit, scenario.arrivals
    if arrivals is None:
        question = f"process {scenario.messages} messages within {limit:g} s"
    else:
        question = (
            f"keep the p99 latency of {arrivals.rate:g} messages/s ({arrivals.process.value}) for "
            f"{scenario.messages / arrivals.rate:g} s within {limit:g} s, at most "
            f"{plan.proof.summary.max_queue_depth} waiting"
        )
    return f"{answer}: the fewest that {question} ({plan.estimate.basis}: {plan.estimate.workers} workers)"


def runs(plan: Plan) -> tuple[tuple[str, ...], list[tuple[Trial, tuple[str, ...]]]]:
    """The table of every run: its columns (``processes`` when the answer is in processes, each profile's
    workers when there are several) and, by worker count (a count's kernel run before its simulation), each
    run with its cells."""
    ordered = sorted(plan.trials, key=lambda t: (t.workers, t.by))
    if plan.processes is not None:
        return COLUMNS, [(t, _cells(t)) for t in ordered]
    names = tuple(s.name for s in ordered[0].summary.senders) if len(ordered[0].summary.senders) > 1 else ()
    return names + COLUMNS[1:], [
        (t, tuple(str(s.workers) for s in t.summary.senders)[: len(names)] + _cells(t)[1:]) for t in ordered
    ]


def _cells(t: Trial) -> tuple[str, ...]:
    return (
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


def _plain_table(plan: Plan) -> str:
    columns, table = runs(plan)
    shown = [columns, *(cells for _, cells in table)]
    by = columns.index("by")
    widths = [max(len(row[i]) for row in shown) for i in range(len(columns))]
    aligned = [
        [cell.ljust(w) if i == by else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        for row in shown
    ]
    return "\n".join("  " + "  ".join(row) for row in aligned)


def rich_table(plan: Plan) -> Table:
    """The runs as a ``rich`` table: the question's measure in bold, passing runs green, the answer's row bold."""
    measure = "duration" if plan.goal.measure == "duration_s" else "p99 latency"
    table = Table(title=f"runs by worker count ({measure} limit {plan.goal.limit:g} s)", title_justify="left")
    columns, rows = runs(plan)
    for name in columns:
        table.add_column(name, justify="left" if name == "by" else "right", style="bold" if name == measure else None)
    for trial, cells in rows:
        style = "green" if trial.passed else "red"
        table.add_row(*cells, style=f"bold {style}" if trial.workers == plan.workers else style)
    return table
