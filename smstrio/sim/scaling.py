"""What the planner's count means: how a campaign is scaled to try one worker count after another. Pure.

- one sender profile: the count is its workers;
- with ``per_process``: the count is sender processes of that many workers, each a sender of the profile;
- several profiles (``--sender``, ``--scenario``), by default: every profile scaled by one factor, the count
  being the workers of all together (each profile gets its share, rounded, at least 1);
- several profiles and ``name``: the count is that profile's workers; the others keep theirs.

Each also says how fast the campaign's workers could go all busy (``capacity``), which the analytic
starts of :mod:`smstrio.sim.questions` invert: in messages a second, each message keeping a worker busy
for its mean attempts (``1 + p + ... + p**(K-1)`` sends), and within the rate limits (``limit``: a limit
is an upper bound on throughput that no worker count lifts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from smstrio.core.scenario import MAX_SENDERS, Scenario, SenderProfile

MAX_PROFILE_WORKERS = 100_000
"""The most workers one sender profile may have (:class:`~smstrio.core.scenario.SenderProfile`)."""


def _rate(profile: SenderProfile, workers: int | None = None) -> float:
    """Messages per second of ``workers`` (default: the profile's) all busy, each message taking the profile's
    mean attempts (:attr:`~smstrio.core.scenario.SenderProfile.mean_attempts`)."""
    count = profile.workers if workers is None else workers
    return math.inf if profile.mean == 0 else count / (profile.mean * profile.mean_attempts)


def _limited(profile: SenderProfile) -> float:
    """Messages per second of the profile's workers all busy, at most what its own rate limit lets through."""
    if profile.rate_limit is None:
        return _rate(profile)
    return min(_rate(profile), profile.rate_limit / profile.mean_attempts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scaling:
    """How :meth:`at` turns a count into the campaign to run."""

    scenario: Scenario
    """The campaign as given: its profiles' workers are the base that counts scale."""
    per_process: int | None = None
    name: str | None = None
    """The one profile scaled while the others stay fixed; ``None``: every profile by one factor."""

    def __post_init__(self) -> None:
        names, several = self.scenario.sender_names, len(self.scenario.senders) > 1
        if self.per_process is not None and several:
            raise ValueError("workers per process scales one sender profile, not several")
        if self.name is not None and self.name not in names:
            raise ValueError(f"no sender profile is named {self.name!r} (the profiles: {', '.join(names)})")

    @property
    def _base(self) -> int:
        return sum(p.workers for p in self.scenario.senders)

    def at(self, count: int) -> Scenario:
        """The campaign at ``count``."""
        sc, profiles = self.scenario, self.scenario.senders
        if len(profiles) == 1 and self.per_process is None:
            return replace(sc, senders=(replace(profiles[0], name=None, workers=count),))
        if self.per_process is not None:
            return replace(sc, senders=(replace(profiles[0], name=None, workers=self.per_process),) * count)
        named = zip(sc.sender_names, profiles, strict=True)
        if self.name is not None:
            return replace(sc, senders=tuple(replace(p, workers=count) if n == self.name else p for n, p in named))
        return replace(
            sc, senders=tuple(replace(p, workers=max(1, round(p.workers * count / self._base))) for p in profiles)
        )

    def capacity(self, count: int) -> float:
        """Messages per second of the campaign at ``count`` with every worker busy, within the rate limits."""
        workers = sum(_limited(p) for p in self.at(count).senders)
        bound = self.limit(count)
        return workers if bound is None else min(workers, bound[0])

    def limit(self, count: int) -> tuple[float, str] | None:
        """The most messages a second the rate limits let the campaign at ``count`` through, however many workers,
        and that limit in words (``the fleet limit 1,000/s``); ``None`` when no limit bounds every sender."""
        sc = self.at(count)
        bounds = []
        if sc.fleet_rate_limit is not None:
            attempts = min(p.mean_attempts for p in sc.senders)
            bounds.append((sc.fleet_rate_limit / attempts, f"the fleet limit {sc.fleet_rate_limit:,g}/s"))
        limits = [p.rate_limit for p in sc.senders]
        if all(limit is not None for limit in limits):
            allowed = sum(p.rate_limit / p.mean_attempts for p in sc.senders if p.rate_limit is not None)
            total = sum(x for x in limits if x is not None)
            which = (
                f"the rate limit {total:,g}/s"
                if len(limits) == 1
                else f"the senders' rate limits ({total:,g}/s together)"
            )
            bounds.append((allowed, which))
        return min(bounds) if bounds else None

    @property
    def fixed_rate(self) -> float:
        """Messages per second of the profiles that stay fixed, all busy (0 when every profile scales)."""
        if self.name is None:
            return 0.0
        return sum(
            _limited(p)
            for n, p in zip(self.scenario.sender_names, self.scenario.senders, strict=True)
            if n != self.name
        )

    def mean(self) -> float:
        """The mean time a message keeps a worker busy, over its mean attempts, in the workers a count adds (the
        scaled profile's, or all profiles' together)."""
        profiles = self.scenario.senders
        if self.name is not None:
            scaled = profiles[self.scenario.sender_names.index(self.name)]
            return scaled.mean * scaled.mean_attempts
        rate = sum(_rate(p) for p in profiles)
        return 0.0 if rate == math.inf else self._base / rate

    def count_for(self, rate: float) -> int:
        """The fewest count whose workers, all busy, send ``rate`` a second (at least 1)."""
        needed = (rate - self.fixed_rate) * self.mean()  # workers that scale, each busy all the time
        return max(1, math.ceil(needed / (self.per_process or 1))) if needed > 0 else 1

    def scaled_workers(self, count: int) -> int:
        """The workers that scale at ``count``: all of them, or the named profile's."""
        return count if self.name is not None else self.workers(count)

    def most(self, max_workers: int) -> int:
        """The largest count to try: ``max_workers`` in all (or of the one profile scaled), and no profile
        over :data:`MAX_PROFILE_WORKERS`, nor more than ``MAX_SENDERS`` processes."""
        if self.per_process is not None:
            return min(max_workers // self.per_process, MAX_SENDERS)
        if self.name is not None or len(self.scenario.senders) == 1:
            return min(max_workers, MAX_PROFILE_WORKERS)
        biggest = max(p.workers for p in self.scenario.senders)
        return min(max_workers, math.floor(MAX_PROFILE_WORKERS * self._base / biggest))

    def workers(self, count: int) -> int:
        """The workers of every sender together at ``count``."""
        return sum(p.workers for p in self.at(count).senders)
