"""A live sender as it announces itself in its heartbeat, and that record as a Redis hash's fields. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderInfo:
    """A live sender process, as it announces itself in its heartbeat."""

    id: str
    host: str
    pid: int
    workers: int
    mean_s: float | None
    """The simulated gateway's mean send time; ``None`` for a sender whose ``gateway`` is ``http``."""
    failure_rate: float | None
    """The simulated gateway's failure rate; ``None`` for an HTTP sender (its provider decides)."""
    distribution: str | None
    """How the simulated gateway draws send times; ``None`` for an HTTP sender."""
    started_at: float
    gateway: str = "simulated"
    """Where it sends: ``simulated``, or ``http`` (an SMS provider's API)."""
    sent: int = 0
    failed: int = 0
    invalid: int = 0
    retried: int = 0
    rate_limit: float | None = None
    """Messages a second this sender sends at most (``send --rate-limit``); ``None``: no limit."""
    fleet_rate_limit: float | None = None
    """The limit this sender shares with every sender of the queue (``send --fleet-rate-limit``)."""
    limit_wait_s: float = 0.0
    """Time its next send waited for those limits, in all."""
    last_seen: float = 0.0

    def to_fields(self) -> dict[str, str]:
        """Flat string fields for a Redis hash (``None`` as an empty string)."""
        return {k: "" if v is None else str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> SenderInfo:
        """The inverse of :meth:`to_fields`."""
        return cls(
            id=fields["id"],
            host=fields["host"],
            pid=int(fields["pid"]),
            workers=int(fields["workers"]),
            mean_s=_optional_float(fields["mean_s"]),
            failure_rate=_optional_float(fields["failure_rate"]),
            distribution=fields["distribution"] or None,
            started_at=float(fields["started_at"]),
            gateway=fields.get("gateway", "simulated"),
            sent=int(fields.get("sent", 0)),
            failed=int(fields.get("failed", 0)),
            invalid=int(fields.get("invalid", 0)),
            retried=int(fields.get("retried", 0)),
            rate_limit=_optional_float(fields.get("rate_limit")),
            fleet_rate_limit=_optional_float(fields.get("fleet_rate_limit")),
            limit_wait_s=float(fields.get("limit_wait_s", 0.0)),
            last_seen=float(fields.get("last_seen", 0.0)),
        )


def _optional_float(raw: str | None) -> float | None:
    return float(raw) if raw else None
