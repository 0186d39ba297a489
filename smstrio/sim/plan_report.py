"""The plan as one self-contained HTML page: the curve around the answer as inline SVG, the limit as a line,
the answer marked, the runs and the deciding summary. Pure: no scripts, nothing from the network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from smstrio.core.scenario import Scenario
from smstrio.core.summary import render
from smstrio.sim.plan_text import answer_line, runs
from smstrio.sim.trials import Plan, Trial

WIDTH, HEIGHT = 760, 360
LEFT, RIGHT, TOP, BOTTOM = 78, 24, 24, 56
"""The chart's size and margins, in SVG units."""
PASS, FAIL, LIMIT, ANSWER, INK, GRID = "#1a7f37", "#cf222e", "#bc4c00", "#0969da", "#24292f", "#d0d7de"

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #24292f; margin: 2em auto;
       max-width: 800px; padding: 0 1em; }
h1 { font-size: 1.35em; margin-bottom: 0.2em; } h2 { font-size: 1.1em; margin-top: 1.8em; }
.question { color: #57606a; margin-top: 0; }
svg { display: block; margin: 0.5em 0; } svg text { font: 12px system-ui, sans-serif; fill: #24292f; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 3px 10px; text-align: right; border-bottom: 1px solid #d0d7de; white-space: nowrap; }
td.by, th.by { text-align: left; } tr.pass td { color: #1a7f37; } tr.fail td { color: #cf222e; }
tr.answer td { font-weight: 700; background: #ddf4ff; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: 12.5px; }
"""


@dataclass(frozen=True, slots=True)
class _Axis:
    """A value range drawn onto a pixel range, linear or logarithmic."""

    low: float
    high: float
    start: float
    end: float
    log: bool = False

    def at(self, value: float) -> float:
        low, high, v = (
            (math.log10(self.low), math.log10(self.high), math.log10(value))
            if self.log
            else (
                self.low,
                self.high,
                value,
            )
        )
        span = high - low or 1.0
        return self.start + (v - low) / span * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            decades = range(math.floor(math.log10(self.low)), math.ceil(math.log10(self.high)) + 1)
            marks = [m * 10**d for d in decades for m in (1, 2, 5)]
        else:
            step = _nice((self.high - self.low) / 5)
            marks = [step * k for k in range(math.ceil(self.low / step), math.floor(self.high / step) + 1)]
        return [m for m in marks if self.low <= m <= self.high]


def _nice(rough: float) -> float:
    """The 1, 2 or 5 times a power of ten at or above ``rough``."""
    power = 10 ** math.floor(math.log10(rough)) if rough > 0 else 1.0
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:g}"


def chart(trials: Sequence[Trial], *, measure: str, title: str, limit: float | None, answer: int | None) -> str:
    """An SVG chart of ``measure`` (a summary field) against workers: kernel runs joined by a line, full
    simulations as rings, ``limit`` as a dashed line, ``answer`` as a vertical line."""
    kernel = sorted((t for t in trials if t.by == "kernel"), key=lambda t: t.workers)
    values = [getattr(t.summary, measure) for t in trials] + ([limit] if limit is not None else [])
    low, high = min(values), max(values)
    log = low > 0 and high / low > 5
    if not log:  # from 0 unless the values lie close together: then their window, to tell them apart
        pad = (high - low) * 0.15 or high * 0.1 or 1.0
        low, high = (0.0 if low < high / 2 else low - pad), high + pad
    workers = [t.workers for t in trials]
    spread = max(1, max(workers) - min(workers))
    x = _Axis(min(workers) - spread * 0.05, max(workers) + spread * 0.05, LEFT, WIDTH - RIGHT)
    y = _Axis(low / 1.3 if log else low, high * 1.3 if log else high, HEIGHT - BOTTOM, TOP, log=log)
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">']
    parts.append(f"<title>{escape(title)}</title>")
    for tick in y.ticks():
        py = y.at(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
    for tick in _Axis(x.low, x.high, 0, 0).ticks():
        px = x.at(tick)
        parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 5}" stroke="{INK}"/>'
        )
        parts.append(f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 19}" text-anchor="middle">{_label(tick)}</text>')
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" stroke="{INK}"/>'
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" text-anchor="middle">workers</text>'
        f'<text transform="translate(16 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(title)}{' (log scale)' if log else ''}</text>"
    )
    if limit is not None:
        py = y.at(limit)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" stroke="{LIMIT}" '
            f'stroke-width="2" stroke-dasharray="7 5"/>'
            f'<text x="{WIDTH - RIGHT - 4}" y="{py - 6:.1f}" text-anchor="end" style="fill:{LIMIT}">'
            f"limit {limit:g} s</text>"
        )
    if answer is not None:
        px = x.at(answer)
        parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="{ANSWER}" stroke-width="2"/>'
            f'<text x="{px + 6:.1f}" y="{TOP + 12}" style="fill:{ANSWER};font-weight:700">'
            f"answer: {answer} workers</text>"
        )
    line = " ".join(f"{x.at(t.workers):.1f},{y.at(getattr(t.summary, measure)):.1f}" for t in kernel)
    parts.append(f'<polyline points="{line}" fill="none" stroke="{INK}" stroke-width="1.5"/>')
    for t in trials:
        px, py, colour = x.at(t.workers), y.at(getattr(t.summary, measure)), PASS if t.passed else FAIL
        fill = colour if t.by == "kernel" else "none"
        tip = f"{t.layout} ({t.by}): {getattr(t.summary, measure):g}, {'passes' if t.passed else 'fails'}"
        parts.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{4.5 if t.by == "kernel" else 8}" fill="{fill}" '
            f'stroke="{colour}" stroke-width="2"><title>{escape(tip)}</title></circle>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def report_html(plan: Plan, scenario: Scenario) -> str:
    """The whole page."""
    arrivals = scenario.arrivals is not None
    measure, name = ("latency_p99_s", "p99 latency, s") if arrivals else ("duration_s", "duration, s")
    second, second_name = (
        ("max_queue_depth", "most messages waiting") if arrivals else ("throughput_per_s", "throughput, msg/s")
    )
    trials = [t for t in plan.trials if getattr(t.summary, second) is not None]
    headline = answer_line(plan, scenario) or f"no answer: {plan.reason}"
    proof = plan.proof
    columns, table = runs(plan)
    table_rows = []
    for trial, row in table:
        classes = ("pass" if trial.passed else "fail") + (" answer" if trial.workers == plan.workers else "")
        cells = "".join(f'<td class="{c}">{escape(v)}</td>' for c, v in zip(columns, row, strict=True))
        table_rows.append(f'<tr class="{classes}">{cells}</tr>')
    header = "".join(f'<th class="{c}">{escape(c)}</th>' for c in columns)
    verified = "verified by full simulations" if plan.verified else "not verified by full simulations (kernel only)"
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>smstrio plan: {escape(headline)}</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>{escape(headline)}</h1>",
            f'<p class="question">seed {proof.summary.seed if proof else scenario.seed}; {verified}; '
            "filled dots: the kernel's runs, rings: full simulations; green passes, red fails.</p>",
            f"<h2>{escape(name.split(',')[0])} by worker count</h2>",
            chart(plan.trials, measure=measure, title=name, limit=plan.goal.limit, answer=plan.workers),
            f"<h2>{escape(second_name.split(',')[0])} by worker count</h2>",
            chart(trials, measure=second, title=second_name, limit=None, answer=plan.workers),
            "<h2>Every run</h2>",
            f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(table_rows)}</tbody></table>",
            *(
                (
                    f"<h2>The deciding run ({escape(proof.by)} at {escape(proof.layout)})</h2>",
                    f"<pre>{escape(render(proof.summary))}</pre>",
                )
                if proof is not None
                else ()
            ),
            "</body></html>",
        ]
    )
