"""Statistics records and their math. Pure: the stores fill these, the roles print them.

Times are kept as integer microseconds everywhere below the snapshot: float
increments drift, integer sums do not.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

RATE_WINDOW_S = 5
"""``throughput_per_s`` is the mean over this many whole seconds before the current one."""


class Outcome(enum.StrEnum):
    """What became of one delivered message."""

    SENT = "sent"
    FAILED = "failed"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeRecord:
    """One outcome to store. ``run``/``seq`` are ``None`` when the message carried no usable id."""

    outcome: Outcome
    service_us: int = 0
    run: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Counted:
    """What one ``record`` call newly counted; ``duplicates`` were outcomes already counted."""

    sent: int = 0
    failed: int = 0
    invalid: int = 0
    duplicates: int = 0

    def __add__(self, other: Counted) -> Counted:
        return Counted(
            sent=self.sent + other.sent,
            failed=self.failed + other.failed,
            invalid=self.invalid + other.invalid,
            duplicates=self.duplicates + other.duplicates,
        )

    @property
    def processed(self) -> int:
        return self.sent + self.failed + self.invalid


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderInfo:
    """A live sender process, as it announces itself in its heartbeat."""

    id: str
    host: str
    pid: int
    workers: int
    mean_s: float
    failure_rate: float
    distribution: str
    started_at: float
    sent: int = 0
    failed: int = 0
    invalid: int = 0
    last_seen: float = 0.0

    def to_fields(self) -> dict[str, str]:
        """Flat string fields for a Redis hash."""
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> SenderInfo:
        """The inverse of :meth:`to_fields`."""
        return cls(
            id=fields["id"],
            host=fields["host"],
            pid=int(fields["pid"]),
            workers=int(fields["workers"]),
            mean_s=float(fields["mean_s"]),
            failure_rate=float(fields["failure_rate"]),
            distribution=fields["distribution"],
            started_at=float(fields["started_at"]),
            sent=int(fields.get("sent", 0)),
            failed=int(fields.get("failed", 0)),
            invalid=int(fields.get("invalid", 0)),
            last_seen=float(fields.get("last_seen", 0.0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """The counters of one queue, as stored."""

    produced: int = 0
    sent: int = 0
    failed: int = 0
    invalid: int = 0
    duplicates: int = 0
    service_us: int = 0

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Totals:
        return cls(**{k: int(fields.get(k, 0)) for k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreView:
    """Everything a stats store knows about one queue at one moment."""

    totals: Totals
    recent: Sequence[int]
    """Outcomes counted in each of the last ``RATE_WINDOW_S`` whole seconds."""
    senders: Sequence[SenderInfo] = ()


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
    throughput_per_s: float
    queue_depth: int | None
    senders: Sequence[SenderInfo] = field(default_factory=tuple)
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; ``senders`` become a list of objects."""
        data = asdict(self)
        data["senders"] = [asdict(s) for s in self.senders]
        return data


def snapshot(queue: str, view: StoreView, *, queue_depth: int | None, now: float) -> StatsSnapshot:
    """Combine a store view and the broker's queue depth into a snapshot."""
    t = view.totals
    timed = t.sent + t.failed
    return StatsSnapshot(
        queue=queue,
        produced=t.produced,
        sent=t.sent,
        failed=t.failed,
        invalid=t.invalid,
        duplicates=t.duplicates,
        processed=t.sent + t.failed + t.invalid,
        avg_time_s=round(t.service_us / timed / 1e6, 6) if timed else None,
        throughput_per_s=round(sum(view.recent) / RATE_WINDOW_S, 3),
        queue_depth=queue_depth,
        senders=tuple(sorted(view.senders, key=lambda s: s.id)),
        updated_at=round(now, 3),
    )
