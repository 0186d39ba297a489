"""What a simulated campaign did: the summary of a run, its thresholds, and the k6-style text. Pure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from smstrio.core.histogram import Histogram
from smstrio.core.scenario import Thresholds

Engine = Literal["tasks", "kernel"]
"""What ran a simulation: ``tasks``, the full simulation (the roles as Trio tasks on the in-memory twins), or
``kernel``, the event model of it (:mod:`smstrio.sim.kernel`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderSummary:
    """What one simulated sender did."""

    name: str
    workers: int
    mean_s: float
    failure_rate: float
    distribution: str
    sent: int
    failed: int
    p50_s: float
    p99_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ThresholdResult:
    """One threshold of the scenario: its limit, the measured value, whether the run stayed within it."""

    name: str
    limit: float
    actual: float
    passed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationSummary:
    """The outcome of one simulated campaign. Times are seconds; simulated seconds under a MockClock."""

    messages: int
    sent: int
    failed: int
    retried: int
    """Failed sends given another attempt: every send is one of sent, failed or retried."""
    complete: bool
    """Every message was processed (False when stopped early)."""
    virtual_time: bool
    seed: int
    duration_s: float
    """From the first publish to the last outcome counted (after a stop, including the sends it let finish)."""
    throughput_per_s: float | None
    """Outcomes per second over the duration; ``None`` when the duration is 0."""
    failure_rate: float
    """Observed: failed / (sent + failed), 0 before any outcome."""
    p50_s: float
    p90_s: float
    p95_s: float
    p99_s: float
    max_s: float
    latency_p50_s: float
    latency_p99_s: float
    """End-to-end latency, from each message's creation to its outcome (on the simulation's clock)."""
    latency_max_s: float
    max_queue_depth: int
    """The most messages waiting at once for a worker, arrived and not yet started."""
    arrival_rate_per_s: float | None
    """Steady arrivals per second; ``None`` when every message is loaded at the start."""
    arrivals: str | None
    """How steady arrivals are spaced (``poisson`` or ``constant``); ``None`` when loaded at the start."""
    senders: tuple[SenderSummary, ...]
    thresholds: tuple[ThresholdResult, ...]
    engine: Engine = field(compare=False)
    """What ran it; left out of ``==``, which compares what the run measured."""
    histogram: Histogram = field(compare=False, repr=False)
    """Every send time in microseconds, mergeable with other runs' histograms."""
    latency: Histogram = field(compare=False, repr=False)
    """Every end-to-end latency in microseconds."""

    @property
    def passed(self) -> bool:
        """Complete, and within every threshold."""
        return self.complete and all(t.passed for t in self.thresholds)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name not in ("histogram", "latency")}
        data["senders"] = [asdict(s) for s in self.senders]
        data["thresholds"] = [asdict(t) for t in self.thresholds]
        data["passed"] = self.passed
        data["service_time_us"] = self.histogram.to_dict()
        data["latency_us"] = self.latency.to_dict()
        return data


ENGINE_NAMES: dict[Engine, str] = {"tasks": "full simulation", "kernel": "event kernel"}
"""How a summary's first line names its engine."""


def seconds(us: int) -> float:
    """Microseconds as seconds, rounded to the microsecond."""
    return round(us / 1e6, 6)


def evaluate(
    thresholds: Thresholds, *, p99_s: float, failure_rate: float, duration_s: float, latency_p99_s: float
) -> list[ThresholdResult]:
    """Each threshold that is set, checked against the measured value (at or below the limit passes)."""
    measured = {
        "max_p99_s": p99_s,
        "max_failure_rate": failure_rate,
        "max_duration_s": duration_s,
        "max_p99_latency_s": latency_p99_s,
    }
    results = []
    for name, actual in measured.items():
        limit = getattr(thresholds, name)
        if limit is not None:
            results.append(ThresholdResult(name=name, limit=limit, actual=actual, passed=actual <= limit))
    return results


def attempts_text(summary: SimulationSummary) -> str:
    """``1.25 sends a message``: every send (sent, failed or retried) over the messages processed."""
    timed = summary.sent + summary.failed
    return f"{(timed + summary.retried) / timed:.3f} sends a message" if timed else "-"


def duration_text(seconds: float) -> str:
    """``850µs``, ``12.50ms`` or ``3.759s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds:.3f}s"


def render(summary: SimulationSummary) -> str:
    """The summary as a human reads it, in the manner of k6: thresholds first, then the metrics."""
    s = summary
    arriving = "" if s.arrival_rate_per_s is None else f" arriving at {s.arrival_rate_per_s:g}/s ({s.arrivals})"
    lines = [
        f"  simulated {s.messages} messages{arriving} on {len(s.senders)} sender(s), "
        f"{sum(x.workers for x in s.senders)} workers, seed {s.seed}, "
        f"{'virtual' if s.virtual_time else 'real'} time, {ENGINE_NAMES[s.engine]}"
        f"{'' if s.complete else ' (STOPPED EARLY)'}",
        "",
    ]
    for t in s.thresholds:
        mark, op = ("✓", "<=") if t.passed else ("✗", ">")
        lines.append(f"  {mark} {t.name:.<20}: {t.actual:g} {op} {t.limit:g}")
    if s.thresholds:
        lines.append("")
    timed = s.sent + s.failed

    def share(n: int) -> str:
        return f"{100 * n / timed:.2f}%" if timed else "-"

    throughput = f"{s.throughput_per_s:g}/s" if s.throughput_per_s is not None else "-"
    rows = [
        ("processed", f"{timed} of {s.messages}"),
        ("sent", f"{s.sent:<10} {share(s.sent)}"),
        ("failed", f"{s.failed:<10} {share(s.failed)}"),
        *([("retried", f"{s.retried:<10} {attempts_text(s)}")] if s.retried else []),
        ("duration", duration_text(s.duration_s) + (" simulated" if s.virtual_time else "")),
        ("throughput", throughput),
        (
            "service_time",
            f"p(50)={duration_text(s.p50_s)} p(90)={duration_text(s.p90_s)} p(95)={duration_text(s.p95_s)} "
            f"p(99)={duration_text(s.p99_s)} max={duration_text(s.max_s)}",
        ),
        (
            "latency",
            f"p(50)={duration_text(s.latency_p50_s)} p(99)={duration_text(s.latency_p99_s)} "
            f"max={duration_text(s.latency_max_s)} (creation to outcome)",
        ),
        ("queue", f"at most {s.max_queue_depth} waiting for a worker"),
    ]
    rows += [
        (
            x.name,
            f"{x.workers} workers, {x.distribution} mean {duration_text(x.mean_s)}, failure rate {x.failure_rate:g}: "
            f"sent={x.sent} failed={x.failed} p(50)={duration_text(x.p50_s)} p(99)={duration_text(x.p99_s)}",
        )
        for x in s.senders
    ]
    lines += [f"  {name:.<22}: {value}" for name, value in rows]
    return "\n".join(lines)
