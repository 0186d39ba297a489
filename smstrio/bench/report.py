"""What ``smstrio bench`` measured, the targets it is held to, and the table it prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """One scenario's outcome: a rate (or a duration), with what it is compared against."""

    scenario: str
    value: float
    unit: str
    """``msg/s``, ``s`` or ``%``."""
    detail: str = ""
    reference: str | None = None
    """What the ratio is taken against, e.g. ``older publish 5,200 msg/s``."""
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Every result of one run, with the machine it ran on."""

    results: Sequence[Result]
    machine: dict[str, Any]
    seconds: float
    run: str
    """Part of every queue name the run used: ``smstrio-bench-<run>-<scenario>``."""

    @property
    def all_met(self) -> bool:
        return all(r.met is not False for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "machine": self.machine,
            "seconds": round(self.seconds, 1),
            "all_targets_met": self.all_met,
            "results": [r.to_json() for r in self.results],
        }


def _value(result: Result) -> str:
    if result.unit == "msg/s":
        return f"{result.value:,.0f} msg/s"
    if result.unit == "s":
        return f"{result.value:.1f} s"
    return f"{result.value:.1f} {result.unit}"


def _met(result: Result) -> str:
    if result.met is None:
        return ""
    return "yes" if result.met else "NO"


def table(report: Report) -> str:
    """The report as a Markdown table, as the README shows it."""
    header = ("scenario", "result", "detail", "ratio", "target", "met")
    rows = [
        (
            r.scenario,
            _value(r),
            r.detail,
            f"{r.ratio:.2f}x {r.reference}" if r.ratio is not None and r.reference else "",
            r.target or "",
            _met(r),
        )
        for r in report.results
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in rows]
    machine = ", ".join(f"{k} {v}" for k, v in report.machine.items())
    out.append("")
    out.append(f"{machine}; {report.seconds:.0f} s in all.")
    return "\n".join(out)
