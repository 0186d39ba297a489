"""Statistics records and their math. Pure: the stores fill these, the roles print them.

Times are kept as integer microseconds everywhere below the snapshot: float
increments drift, integer sums do not.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from smstrio.core.heartbeat import SenderInfo
from smstrio.core.histogram import Histogram

RATE_WINDOW_S = 5
"""``throughput_per_s`` is the mean over this many whole seconds before the current one."""
RATE_MINUTE_S = 60
"""``rate_60s`` is the mean over this many whole seconds before the current one."""
RATE_HISTORY_S = 120
"""Stores report the per-second counts of this many whole seconds; snapshots carry them as ``rates``."""
PERCENTILES = (50, 90, 95, 99)
"""The percentiles a snapshot reports for each histogram."""


class Outcome(enum.StrEnum):
    """What became of one delivered message."""

    SENT = "sent"
    FAILED = "failed"
    INVALID = "invalid"
    RETRIED = "retried"
    """A failed attempt sent back for another one: not a final outcome, counted on its own."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeRecord:
    """One outcome to store. ``run``/``seq`` are ``None`` when the message carried no usable id.

    ``service_us`` is the simulated send; ``latency_us`` runs from the message's creation to
    its outcome (wall clock, clamped at 0). Invalid outcomes carry neither.
    """

    outcome: Outcome
    service_us: int = 0
    latency_us: int = 0
    run: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Counted:
    """What one ``record`` call newly counted; ``duplicates`` were outcomes already counted,
    ``retried`` failed attempts sent back for another try."""

    sent: int = 0
    failed: int = 0
    invalid: int = 0
    duplicates: int = 0
    retried: int = 0

    def __add__(self, other: Counted) -> Counted:
        return Counted(
            sent=self.sent + other.sent,
            failed=self.failed + other.failed,
            invalid=self.invalid + other.invalid,
            duplicates=self.duplicates + other.duplicates,
            retried=self.retried + other.retried,
        )

    @property
    def processed(self) -> int:
        return self.sent + self.failed + self.invalid


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """The counters of one queue, as stored."""

    produced: int = 0
    sent: int = 0
    failed: int = 0
    invalid: int = 0
    duplicates: int = 0
    retried: int = 0
    service_us: int = 0
    latency_us: int = 0

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Totals:
        return cls(**{k: int(fields.get(k, 0)) for k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreView:
    """Everything a stats store knows about one queue at one moment."""

    totals: Totals
    recent: Sequence[int]
    """Outcomes counted in each of the last ``RATE_HISTORY_S`` whole seconds, oldest first."""
    senders: Sequence[SenderInfo] = ()
    service: Histogram = field(default_factory=Histogram)
    """Service times (µs) of the sent and failed outcomes counted, merged across senders."""
    latency: Histogram = field(default_factory=Histogram)
    """Creation-to-outcome latencies (µs) of the same outcomes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Percentiles:
    """Percentiles and exact maximum of one histogram, in seconds; all ``None`` when it is empty."""

    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, histogram: Histogram) -> Percentiles:
        """Read from merged buckets (never averaged), rounded to the microsecond."""
        if not histogram.count:
            return cls()
        p50, p90, p95, p99 = (round(histogram.percentile(q) / 1e6, 6) for q in PERCENTILES)
        return cls(p50=p50, p90=p90, p95=p95, p99=p99, max=round(histogram.max / 1e6, 6))


@dataclass(frozen=True, slots=True, kw_only=True)
class RateHistory:
    """Outcomes counted per whole second: ``per_s[i]`` during the second starting at Unix time ``start + i``."""

    start: int = 0
    per_s: Sequence[int] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The live senders' throughput limits against the rate, from their heartbeats (``/stats`` ``limits``)."""

    fleet_per_s: float | None = None
    """The fleet limit the senders share (``send --fleet-rate-limit``; the smallest if they differ); ``None``: none."""
    senders_per_s: float | None = None
    """The senders' own limits added up (``send --rate-limit``); ``None`` unless every live sender has one."""
    limit_per_s: float | None = None
    """The smaller of the two: the most the live senders may send a second; ``None`` without a limit."""
    rate_per_s: float = 0.0
    """Outcomes a second over the last 5 whole seconds (``throughput_per_s``)."""
    usage: float | None = None
    """``rate_per_s / limit_per_s`` (1.0: at the limit); ``None`` without a limit."""
    wait_s: float = 0.0
    """Time the live senders' next sends waited for their limits, added up over the senders."""

    @classmethod
    def of(cls, senders: Sequence[SenderInfo], rate_per_s: float) -> Limits:
        fleet = [s.fleet_rate_limit for s in senders if s.fleet_rate_limit is not None]
        own = [s.rate_limit for s in senders if s.rate_limit is not None]
        fleet_per_s = min(fleet) if fleet else None
        senders_per_s = round(sum(own), 3) if own and len(own) == len(senders) else None
        given = [x for x in (fleet_per_s, senders_per_s) if x is not None]
        limit = min(given) if given else None
        return cls(
            fleet_per_s=fleet_per_s,
            senders_per_s=senders_per_s,
            limit_per_s=limit,
            rate_per_s=rate_per_s,
            usage=round(rate_per_s / limit, 4) if limit else None,
            wait_s=round(sum(s.limit_wait_s for s in senders), 3),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsSnapshot:
    """The statistics of one queue: what ``smstrio stats`` prints and ``GET /stats`` returns."""

    queue: str
    produced: int
    sent: int
    failed: int
    invalid: int
    duplicates: int
    processed: int
    avg_time_s: float | None
    retried: int = 0
    throughput_per_s: float
    queue_depth: int | None
    consumers: int | None = None
    """Consumers the broker counts on the queue (one per sender process); ``None`` when it did not say."""
    senders: Sequence[SenderInfo] = field(default_factory=tuple)
    updated_at: float = 0.0
    service_time_s: Percentiles = field(default_factory=Percentiles)
    latency_s: Percentiles = field(default_factory=Percentiles)
    rate_1s: float = 0.0
    rate_60s: float = 0.0
    progress: float | None = None
    eta_s: float | None = None
    """Seconds until every produced message is processed at ``throughput_per_s``; see :func:`eta`."""
    missing: int | None = None
    """Messages confirmed and neither counted nor waiting in the queue (``smstrio audit``'s missing): lost,
    or still in a sender's hands; ``None`` while messages wait or the broker did not answer (:func:`missing`)."""
    limits: Limits = field(default_factory=Limits)
    service: Histogram = field(default_factory=Histogram)
    """The merged histogram behind ``service_time_s`` (µs), for ``GET /metrics``; not in :meth:`to_json`."""
    service_sum_us: int = 0
    latency: Histogram = field(default_factory=Histogram)
    """The merged histogram behind ``latency_s`` (µs), for ``GET /metrics``; not in :meth:`to_json`."""
    latency_sum_us: int = 0
    rates: RateHistory = field(default_factory=RateHistory)
    """The store's per-second counts (the last ``RATE_HISTORY_S`` s), for ``GET /rates``; not in :meth:`to_json`."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``senders`` and percentiles become objects; histograms and sums stay out."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_JSON}
        data["senders"] = [asdict(s) for s in self.senders]
        data["service_time_s"] = asdict(self.service_time_s)
        data["latency_s"] = asdict(self.latency_s)
        data["limits"] = asdict(self.limits)
        return data


_NOT_JSON = frozenset({"service", "service_sum_us", "latency", "latency_sum_us", "rates"})


def recent_seconds(now: float) -> range:
    """The whole seconds ``StoreView.recent`` covers at ``now``: the ``RATE_HISTORY_S`` before the current one."""
    second = int(now)
    return range(second - RATE_HISTORY_S, second)


def eta(produced: int, processed: int, rate_per_s: float) -> float | None:
    """Seconds until ``processed`` reaches ``produced`` at ``rate_per_s``.

    0 once nothing is left; ``None`` while nothing was produced or nothing is being processed.
    """
    if not produced:
        return None
    remaining = produced - processed
    if remaining <= 0:
        return 0.0
    return round(remaining / rate_per_s, 3) if rate_per_s > 0 else None


def missing(produced: int, processed: int, queue_depth: int | None) -> int | None:
    """``smstrio audit``'s missing (confirmed - counted - waiting) once the queue is drained, else ``None``.

    No ledger scan is needed: ``produced`` and ``processed`` move with the ledger's bitmaps (a message is
    added to them when its bit is first set, or once when it has no id), so ``produced - processed`` is the
    ledger's confirmed - counted, summed over the runs. While messages wait in the queue, those not counted
    are not necessarily lost, as audit says: then ``None``.
    """
    if queue_depth is None or queue_depth > 0:
        return None
    return max(0, produced - processed)


def snapshot(
    queue: str, view: StoreView, *, queue_depth: int | None, now: float, consumers: int | None = None
) -> StatsSnapshot:
    """Combine a store view and what the broker says of the queue into a snapshot."""
    t = view.totals
    timed = t.sent + t.failed
    processed = t.sent + t.failed + t.invalid
    throughput = round(sum(view.recent[-RATE_WINDOW_S:]) / RATE_WINDOW_S, 3)
    return StatsSnapshot(
        queue=queue,
        produced=t.produced,
        sent=t.sent,
        failed=t.failed,
        invalid=t.invalid,
        duplicates=t.duplicates,
        retried=t.retried,
        processed=processed,
        avg_time_s=round(t.service_us / timed / 1e6, 6) if timed else None,
        throughput_per_s=throughput,
        queue_depth=queue_depth,
        consumers=consumers,
        senders=tuple(sorted(view.senders, key=lambda s: s.id)),
        updated_at=round(now, 3),
        service_time_s=Percentiles.of(view.service),
        latency_s=Percentiles.of(view.latency),
        rate_1s=float(view.recent[-1]) if view.recent else 0.0,
        rate_60s=round(sum(view.recent[-RATE_MINUTE_S:]) / RATE_MINUTE_S, 3),
        progress=round(processed / t.produced, 6) if t.produced else None,
        eta_s=eta(t.produced, processed, throughput),
        missing=missing(t.produced, processed, queue_depth),
        limits=Limits.of(view.senders, throughput),
        service=view.service,
        service_sum_us=t.service_us,
        latency=view.latency,
        latency_sum_us=t.latency_us,
        rates=RateHistory(start=int(now) - len(view.recent), per_s=tuple(view.recent)),
    )
