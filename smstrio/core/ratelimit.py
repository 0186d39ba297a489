"""Throughput limits as GCRA (the generic cell rate algorithm), in integer microseconds. Pure: the caller
passes the time in.

A limit of ``rate`` messages a second spaces slots ``interval_us = 1e6 / rate`` apart. The state is
one number, the theoretical arrival time ``tat_us``: when the next slot would be due if slots had
been taken back to back. A slot asked for at ``now_us`` is due at ``max(now_us, tat_us - tolerance_us)``
and moves ``tat_us`` on by one interval from ``max(tat_us, now_us)``; ``tolerance_us`` lets ``burst``
slots be due at once after a quiet spell (1: none).

:func:`reserve` hands out several slots in one step, the next ones in order, as a :class:`Grant`
(slot ``k`` is due ``grant.delay_us(k)`` after ``now_us``), but not slots due beyond ``horizon_us``
from now, except the first (so each step gives at least one). The Redis script ``limit.lua`` runs
the same arithmetic on the server's clock, so every sender of a queue shares one fleet limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smstrio.core.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Gcra:
    """A rate limit: ``rate`` slots a second, ``burst`` of them due at once after a quiet spell."""

    rate: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and 0 < self.rate <= 1e6):
            raise ConfigError(f"rate limit must be > 0 and at most 1000000 per second, got {self.rate}")
        if not 1 <= self.burst <= 1_000_000:
            raise ConfigError(f"burst must be within 1..1000000, got {self.burst}")

    @property
    def interval_us(self) -> int:
        """Microseconds between slots (at least 1)."""
        return max(1, round(1e6 / self.rate))

    @property
    def tolerance_us(self) -> int:
        """How far ahead of its theoretical time a slot may be due: ``burst - 1`` intervals."""
        return (self.burst - 1) * self.interval_us


@dataclass(frozen=True, slots=True)
class Grant:
    """``count`` consecutive slots: slot ``k`` is due :meth:`delay_us` after the time they were asked at."""

    count: int
    first_us: int
    """Slot 0's theoretical time less the tolerance, from the time asked at (negative: due already)."""
    interval_us: int

    def delay_us(self, k: int) -> int:
        """Microseconds after the asking time at which slot ``k`` (0-based) is due; 0: at once."""
        return max(0, self.first_us + k * self.interval_us)


def reserve(tat_us: int, now_us: int, want: int, limit: Gcra, horizon_us: int) -> tuple[int, Grant]:
    """Take up to ``want`` slots at ``now_us``: the new ``tat_us`` and the :class:`Grant`.

    Only slots due within ``horizon_us`` of ``now_us`` are granted, but always at least one, so a
    caller asking again once its slots are used never waits on slots it holds for later.
    """
    interval = limit.interval_us
    start = max(tat_us, now_us)
    first = start - limit.tolerance_us - now_us
    within = (horizon_us - first) // interval + 1
    count = max(1, min(want, within))
    return start + count * interval, Grant(count, first, interval)


def next_slot(tat_us: int, now_us: int, limit: Gcra) -> tuple[int, int]:
    """One slot at ``now_us``: the new ``tat_us`` and the time the slot is due."""
    tat, grant = reserve(tat_us, now_us, 1, limit, 0)
    return tat, now_us + grant.delay_us(0)
