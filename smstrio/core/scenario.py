"""The simulation scenario: what to simulate and what counts as a pass. Pure.

Scenarios are read from flags and TOML files by :mod:`smstrio.core.scenario_file`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from smstrio.core.config import MAX_RATE_LIMIT
from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError

MAX_MESSAGES = 10_000_000
"""About 600 bytes of memory each while queued (the in-memory broker holds every published message)."""
MAX_SENDERS = 1000


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _rate_limit(value: float | None, name: str) -> None:
    """``None``, or a limit ``smstrio send`` takes: above 0, at most ``MAX_RATE_LIMIT`` a second."""
    _check(
        value is None or (math.isfinite(value) and 0 < value <= MAX_RATE_LIMIT),
        f"{name} must be > 0 and at most {MAX_RATE_LIMIT:,} messages per second, got {value}",
    )


def _positive_or_none(value: float | None, name: str) -> None:
    _check(value is None or (math.isfinite(value) and value > 0), f"{name} must be a number > 0 when set, got {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderProfile:
    """One simulated sender process: its workers and how its sends behave."""

    name: str | None = None
    workers: int = 50
    mean: float = 0.1
    """Mean send time in seconds."""
    failure_rate: float = 0.1
    distribution: Distribution = Distribution.EXPONENTIAL
    max_attempts: int = 1
    """Attempts at each message, as ``smstrio send --max-attempts``: a failed one is retried up to this many."""
    retry_delay: float = 1.0
    """Seconds a failed attempt waits in the retry queue, doubling per attempt (``send --retry-delay``)."""
    rate_limit: float | None = None
    """Sends per second this sender may start, as ``smstrio send --rate-limit``; ``None``: no limit."""

    def __post_init__(self) -> None:
        _check(self.name is None or 1 <= len(self.name) <= 100, f"name must be 1 to 100 characters, got {self.name!r}")
        _check(1 <= self.workers <= 100_000, f"workers must be within 1..100000, got {self.workers}")
        _check(math.isfinite(self.mean) and self.mean >= 0, f"mean must be a number >= 0 seconds, got {self.mean}")
        _check(
            math.isfinite(self.failure_rate) and 0 <= self.failure_rate <= 1,
            f"failure rate must be within 0..1, got {self.failure_rate}",
        )
        _check(1 <= self.max_attempts <= 100, f"max attempts must be within 1..100, got {self.max_attempts}")
        _check(
            math.isfinite(self.retry_delay) and 0 <= self.retry_delay <= 3600,
            f"retry delay must be within 0..3600 seconds, got {self.retry_delay}",
        )
        _rate_limit(self.rate_limit, "rate limit")

    @property
    def mean_attempts(self) -> float:
        """Sends per message on average: ``1 + p + p**2 + ...`` up to ``max_attempts`` terms, ``p`` the failure rate."""
        p, k = self.failure_rate, self.max_attempts
        return float(k) if p == 1 else (1 - p**k) / (1 - p)


class ArrivalProcess(enum.StrEnum):
    """How steady arrivals are spaced."""

    POISSON = "poisson"
    """Gaps drawn exponential of mean ``1 / rate``: independent arrivals, as real traffic comes."""
    CONSTANT = "constant"
    """Exactly ``1 / rate`` apart."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrivals:
    """Messages arriving one by one at ``rate`` per second, instead of all at once; the first after one gap."""

    rate: float
    process: ArrivalProcess = ArrivalProcess.POISSON

    def __post_init__(self) -> None:
        _check(math.isfinite(self.rate) and self.rate > 0, f"arrival rate must be a number > 0, got {self.rate}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """Limits a run must stay within to pass; ``None`` checks nothing."""

    max_p99_s: float | None = None
    max_failure_rate: float | None = None
    max_duration_s: float | None = None
    max_p99_latency_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_p99_s", "max_duration_s", "max_p99_latency_s"):
            _positive_or_none(getattr(self, name), name)
        _check(
            self.max_failure_rate is None or (math.isfinite(self.max_failure_rate) and 0 <= self.max_failure_rate <= 1),
            f"max_failure_rate must be within 0..1 when set, got {self.max_failure_rate}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A whole simulated campaign: the messages, the senders sharing them, the pass criteria."""

    messages: int = 1000
    senders: tuple[SenderProfile, ...] = (SenderProfile(),)
    seed: int | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    arrivals: Arrivals | None = None
    """``None``: every message is loaded at the start."""
    fleet_rate_limit: float | None = None
    """Sends per second all senders together may start, as ``smstrio send --fleet-rate-limit``; ``None``: none."""

    def __post_init__(self) -> None:
        _check(1 <= self.messages <= MAX_MESSAGES, f"messages must be within 1..{MAX_MESSAGES}, got {self.messages}")
        _check(
            1 <= len(self.senders) <= MAX_SENDERS,
            f"a scenario needs 1 to {MAX_SENDERS} senders, got {len(self.senders)}",
        )
        _rate_limit(self.fleet_rate_limit, "fleet rate limit")
        names = self.sender_names
        _check(len(set(names)) == len(names), f"sender names must differ, got {', '.join(names)}")

    @property
    def sender_names(self) -> list[str]:
        """Each sender's name, ``sender-N`` (from 1) where the profile gives none."""
        return [p.name or f"sender-{i}" for i, p in enumerate(self.senders, 1)]

    @property
    def total_workers(self) -> int:
        return sum(p.workers for p in self.senders)

    @property
    def ideal_duration_s(self) -> float:
        """``messages`` over the senders' combined rate (of messages, each taking its mean attempts): the duration if
        every worker were always busy."""
        if any(p.mean == 0 for p in self.senders):
            return 0.0
        return self.messages / sum(p.workers / (p.mean * p.mean_attempts) for p in self.senders)
