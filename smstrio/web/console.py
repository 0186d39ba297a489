"""What smstrio draws on a terminal, with rich: the monitor's live table and produce's progress bar.

``render`` turns one ``/stats`` object into a rich renderable (pure: no I/O). :class:`LiveTable`
draws successive ones in place with ``rich.live``, which counts the rows it drew (wrapped lines
included), crops a table taller than the terminal, and prints log lines written to stderr meanwhile
above the table instead of through it. :class:`ProduceProgress` is ``produce``'s bar (``rich.progress``).
Neither is used off a terminal: there the commands print JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from smstrio.core.stats import eta

BAR_WIDTH = 40
_PERCENTILES = ("p50", "p90", "p95", "p99", "max")
_SENDER_COLUMNS = ("sender", "workers", "mean", "fail%", "sent", "failed", "invalid", "retried", "seen")


def eta_s(stats: Mapping[str, Any]) -> float | None:
    """The ETA of a ``/stats`` object, recomputed from its counts (:func:`smstrio.core.stats.eta`)."""
    return eta(stats["produced"], stats["processed"], stats["throughput_per_s"])


def duration(seconds: float | None) -> str:
    """``-`` for unknown, else ``42.0s``, ``3m05s`` or ``2h07m``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f}ms" if value < 1 else f"{value:.3f}s"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _pairs(*pairs: tuple[str, str]) -> Text:
    """``sent 4,000  failed 500``: each name dim, each value as it is."""
    text = Text()
    for i, (name, value) in enumerate(pairs):
        text.append(("  " if i else "") + name + " ", style="dim")
        text.append(value)
    return text


def _table(header: tuple[str, ...], rows: list[list[str]]) -> Table:
    """Columns sized to their widest cell: the first one left-aligned, the numbers right-aligned."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for i, name in enumerate(header):
        table.add_column(name, justify="right" if i else "left", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def render(stats: Mapping[str, Any], *, title: str = "smstrio monitor") -> Group:
    """The table for one ``/stats`` object, headed by ``title`` and the queue."""
    progress = stats["progress"]
    depth = stats["queue_depth"]
    percent = "-" if progress is None else f"{progress * 100:.1f}%"
    bar = Table.grid(padding=(0, 2))
    bar.add_row(
        ProgressBar(total=1.0, completed=progress or 0.0, width=BAR_WIDTH),
        f"{percent}  {stats['processed']:,}/{stats['produced']:,}  ETA {duration(eta_s(stats))}",
    )
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_row("progress", bar)
    summary.add_row(
        "counts",
        _pairs(
            *((key, f"{stats[key]:,}") for key in ("sent", "failed", "invalid", "retried", "duplicates")),
        ),
    )
    missing = stats.get("missing")  # known once the queue is drained: then shown
    summary.add_row(
        "queue",
        _pairs(
            ("depth", _count(depth)),
            ("consumers", _count(stats.get("consumers"))),
            ("senders", f"{len(stats['senders'])}"),
            *((("missing", f"{missing:,}"),) if missing is not None else ()),
        ),
    )
    summary.add_row(
        "rate/s",
        _pairs(
            ("1s", f"{stats['rate_1s']:,.1f}"),
            ("5s", f"{stats['throughput_per_s']:,.1f}"),
            ("60s", f"{stats['rate_60s']:,.1f}"),
            ("mean send", _seconds(stats["avg_time_s"])),
        ),
    )
    limits = stats.get("limits") or {}
    if limits.get("limit_per_s") is not None:
        scope = "fleet" if limits["limit_per_s"] == limits["fleet_per_s"] else "own"
        summary.add_row(
            "limit/s",
            _pairs(
                (scope, f"{limits['limit_per_s']:,.1f}"),
                ("rate", f"{limits['rate_per_s']:,.1f}"),
                ("use", f"{limits['usage'] * 100:.1f}%"),
                ("waited", duration(limits["wait_s"])),
            ),
        )
    percentiles = [
        [name, *(_seconds(stats[key][p]) for p in _PERCENTILES)]
        for name, key in (("service", "service_time_s"), ("latency", "latency_s"))
    ]
    header = Text.assemble((title, "bold"), "  queue ", (stats["queue"], "bold cyan"))
    parts: list[Any] = [header, "", summary, "", _table(("", *_PERCENTILES), percentiles)]
    if stats["senders"]:
        updated = stats["updated_at"]
        rows = [
            [
                s["id"],
                str(s["workers"]),
                "http" if s["mean_s"] is None else _seconds(s["mean_s"]),
                "-" if s["failure_rate"] is None else f"{s['failure_rate'] * 100:g}",
                f"{s['sent']:,}",
                f"{s['failed']:,}",
                f"{s['invalid']:,}",
                f"{s['retried']:,}",
                f"{max(0.0, updated - s['last_seen']):.1f}s ago",
            ]
            for s in stats["senders"]
        ]
        parts += ["", _table(_SENDER_COLUMNS, rows)]
    return Group(*parts)


class LiveTable:
    """The monitor's table on a terminal, each ``/stats`` object drawn over the one before.

    ``redirect_stderr``: print what is written to ``sys.stderr`` meanwhile (log lines) above the
    table; only when stderr is the same terminal.
    """

    def __init__(self, console: Console, *, redirect_stderr: bool) -> None:
        self._live = Live(console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=redirect_stderr)

    def show(self, stats: Mapping[str, Any]) -> None:
        """Draw ``stats`` in place of the table drawn last (the first call starts the display)."""
        self._live.start()
        self._live.update(render(stats), refresh=True)

    def __enter__(self) -> LiveTable:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """Leave the last table on screen and the cursor below it."""
        self._live.stop()


class _Done(ProgressColumn):
    """``4,000/10,000``: confirmed of the total."""

    def render(self, task: Task) -> Text:
        return Text(f"{int(task.completed):,}/{int(task.total or 0):,}")


class _RateAndEta(ProgressColumn):
    """``8,000 msg/s  ETA 0.8s``: the mean rate since the start, and the time left at that rate."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        left = (task.total or 0) - task.completed
        return Text(f"{rate:,.0f} msg/s  ETA {duration(left / rate if rate > 0 else None)}")


class ProduceProgress:
    """``produce ━━━━━━╺━━━━━━━ 4,000/10,000 40% 8,000 msg/s  ETA 0.8s`` on a terminal, redrawn at most
    every ``every`` seconds of ``clock`` (and always at the end); what is written to ``sys.stderr``
    meanwhile (log lines) prints above it."""

    def __init__(self, total: int, console: Console, clock: Callable[[], float], every: float = 0.1) -> None:
        self._progress = Progress(
            "produce",
            BarColumn(bar_width=BAR_WIDTH),
            _Done(),
            TaskProgressColumn(),
            _RateAndEta(),
            console=console,
            auto_refresh=False,
            redirect_stdout=False,
            get_time=clock,
        )
        self._task = self._progress.add_task("produce", total=total, start=False)  # its clock starts on entering
        self._total = total
        self._clock = clock
        self._every = every
        self._shown = -math.inf

    def __enter__(self) -> ProduceProgress:
        """Start drawing, and the rate's clock: connecting to the servers before is not publishing."""
        self._progress.start()
        self._progress.start_task(self._task)
        return self

    def update(self, done: int) -> None:
        """``done`` messages confirmed so far."""
        self._progress.update(self._task, completed=done)
        now = self._clock()
        if done >= self._total or now - self._shown >= self._every:
            self._shown = now
            self._progress.refresh()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """Leave the last bar on screen and the cursor below it."""
        self._progress.stop()
