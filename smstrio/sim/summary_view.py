"""A simulation's summary drawn with ``rich`` for a terminal: what :func:`smstrio.core.summary.render` says in
plain text, with its metrics aligned in columns, thresholds green or red, and the senders as a table. Pure."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from smstrio.core.summary import ENGINE_NAMES, SimulationSummary, ThresholdResult, attempts_text, duration_text

_SENDER_COLUMNS = ("sender", "workers", "distribution", "mean", "failure rate", "sent", "failed", "p50", "p99")


def summary_view(summary: SimulationSummary) -> Group:
    """The summary as ``rich`` draws it: the run in one bold line, the thresholds, the metrics, the senders."""
    s = summary
    arriving = "" if s.arrival_rate_per_s is None else f" arriving at {s.arrival_rate_per_s:g}/s ({s.arrivals})"
    head = Text.assemble(
        (f"simulated {s.messages:,} messages{arriving}", "bold"),
        f" on {len(s.senders)} sender(s), {sum(x.workers for x in s.senders):,} workers, seed {s.seed}, "
        f"{'virtual' if s.virtual_time else 'real'} time, {ENGINE_NAMES[s.engine]}",
    )
    if not s.complete:
        head.append("  STOPPED EARLY", style="bold red")
    parts: list[RenderableType] = [head, Text()]
    if s.thresholds:
        parts += [_thresholds(s.thresholds), Text()]
    parts.append(_metrics(s))
    if s.senders:
        parts += [Text(), _senders(s)]
    return Group(*parts)


def _thresholds(thresholds: tuple[ThresholdResult, ...]) -> Table:
    grid = Table.grid(padding=(0, 2))
    for _ in range(3):
        grid.add_column()
    for t in thresholds:
        mark, op, style = ("✓", "<=", "green") if t.passed else ("✗", ">", "bold red")
        grid.add_row(Text(mark, style=style), t.name, Text(f"{t.actual:g} {op} {t.limit:g}", style=style))
    return grid


def _metrics(s: SimulationSummary) -> Table:
    timed = s.sent + s.failed

    def share(n: int) -> str:
        return f"{100 * n / timed:.2f}%" if timed else "-"

    def percentiles(*pairs: tuple[str, float]) -> Text:
        return Text("  ").join(Text.assemble((f"{name} ", "dim"), duration_text(value)) for name, value in pairs)

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column()
    rows: list[tuple[str, str | Text, str | Text]] = [
        ("processed", f"{timed:,}", f"of {s.messages:,}"),
        ("sent", f"{s.sent:,}", share(s.sent)),
        ("failed", Text(f"{s.failed:,}", style="red" if s.failed else ""), share(s.failed)),
        *([("retried", f"{s.retried:,}", attempts_text(s))] if s.retried else []),
        ("duration", duration_text(s.duration_s), "simulated" if s.virtual_time else ""),
        ("throughput", "-" if s.throughput_per_s is None else f"{s.throughput_per_s:g}/s", ""),
        (
            "service time",
            "",
            percentiles(("p50", s.p50_s), ("p90", s.p90_s), ("p95", s.p95_s), ("p99", s.p99_s), ("max", s.max_s)),
        ),
        (
            "latency",
            "",
            percentiles(("p50", s.latency_p50_s), ("p99", s.latency_p99_s), ("max", s.latency_max_s))
            + Text("  creation to outcome", style="dim"),
        ),
        ("queue", f"{s.max_queue_depth:,}", "at most, waiting for a worker"),
    ]
    for row in rows:
        grid.add_row(*row)
    return grid


def _senders(s: SimulationSummary) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    for i, name in enumerate(_SENDER_COLUMNS):
        table.add_column(name, justify="left" if i in (0, 2) else "right", no_wrap=True)
    for x in s.senders:
        table.add_row(
            x.name,
            f"{x.workers:,}",
            x.distribution,
            duration_text(x.mean_s),
            f"{x.failure_rate:g}",
            f"{x.sent:,}",
            f"{x.failed:,}",
            duration_text(x.p50_s),
            duration_text(x.p99_s),
        )
    return table
