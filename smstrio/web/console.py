"""The monitor's live table for a terminal. Pure: strings in, strings out, no I/O.

``render`` turns one ``/stats`` object into lines of text; ``redraw`` wraps them in the
plain ANSI escapes that move the cursor back over the previous table and clear below it,
so each interval overwrites the last one in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from smstrio.core.stats import eta

BAR_WIDTH = 30
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


def bar(progress: float | None, width: int = BAR_WIDTH) -> str:
    """``[#####.....]`` filled in proportion to ``progress`` (0..1); all dots when unknown."""
    filled = 0 if progress is None else round(min(max(progress, 0.0), 1.0) * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell: the first one left-aligned, the numbers right-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
        for row in (header, *rows)
    ]


def render(stats: Mapping[str, Any]) -> list[str]:
    """The table's lines for one ``/stats`` object."""
    progress = stats["progress"]
    percent = "-" if progress is None else f"{progress * 100:.1f}%"
    depth = stats["queue_depth"]
    lines = [
        f"smstrio monitor  queue {stats['queue']}",
        "",
        f"progress  {bar(progress)} {percent}  {stats['processed']:,}/{stats['produced']:,}"
        f"  ETA {duration(eta_s(stats))}",
        f"counts    sent {stats['sent']:,}  failed {stats['failed']:,}  invalid {stats['invalid']:,}"
        f"  retried {stats['retried']:,}  duplicates {stats['duplicates']:,}",
        f"queue     depth {'-' if depth is None else f'{depth:,}'}  consumers {_count(stats.get('consumers'))}"
        f"  senders {len(stats['senders'])}",
        f"rate/s    1s {stats['rate_1s']:,.1f}  5s {stats['throughput_per_s']:,.1f}  60s {stats['rate_60s']:,.1f}"
        f"  mean send {_seconds(stats['avg_time_s'])}",
        "",
    ]
    percentiles = [
        [name, *(_seconds(stats[key][p]) for p in _PERCENTILES)]
        for name, key in (("service", "service_time_s"), ("latency", "latency_s"))
    ]
    lines += _table(("", *_PERCENTILES), percentiles)
    if stats["senders"]:
        lines.append("")
        updated = stats["updated_at"]
        rows = [
            [
                s["id"],
                str(s["workers"]),
                _seconds(s["mean_s"]),
                f"{s['failure_rate'] * 100:g}",
                f"{s['sent']:,}",
                f"{s['failed']:,}",
                f"{s['invalid']:,}",
                f"{s['retried']:,}",
                f"{max(0.0, updated - s['last_seen']):.1f}s ago",
            ]
            for s in stats["senders"]
        ]
        lines += _table(_SENDER_COLUMNS, rows)
    return lines


class LiveTable:
    """Successive frames of the table, each drawn over the one before."""

    def __init__(self) -> None:
        self._drawn = 0

    def frame(self, stats: Mapping[str, Any]) -> str:
        """The text to write for this ``/stats`` object."""
        lines = render(stats)
        text = redraw(lines, self._drawn)
        self._drawn = len(lines)
        return text


def redraw(lines: Sequence[str], previous: int) -> str:
    """Text that replaces the ``previous`` lines last drawn with ``lines`` (each line cleared to its end)."""
    up = f"\x1b[{previous}F" if previous else ""
    return up + "".join(f"{line}\x1b[K\n" for line in lines) + "\x1b[J"


def progress_line(done: int, total: int, seconds: float) -> str:
    """``produce [####......] 4,000/10,000  40%  8,000 msg/s  ETA 0.8s``: one line for a terminal."""
    share = done / total if total else 1.0
    rate = done / seconds if seconds > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else None
    return f"produce {bar(share)} {done:,}/{total:,} {share:4.0%}  {rate:,.0f} msg/s  ETA {duration(eta)}"


class ProgressBar:
    """A progress line redrawn in place on a terminal, at most every ``every`` seconds (``\\r``, erase line)."""

    def __init__(self, total: int, write: Callable[[str], object], clock: Callable[[], float], every: float = 0.1):
        self._total = total
        self._write = write
        self._clock = clock
        self._every = every
        self._started = clock()
        self._shown = -math.inf

    def update(self, done: int) -> None:
        now = self._clock()
        if done >= self._total or now - self._shown >= self._every:
            self._shown = now
            self._write("\r" + progress_line(done, self._total, now - self._started) + "\x1b[K")

    def finish(self) -> None:
        """End the line, so what is printed next starts on a line of its own."""
        self._write("\n")
