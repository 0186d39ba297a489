"""What the planner's count means: how a campaign is scaled to try one worker count after another. Pure.

- one sender profile: the count is its workers;
- with ``per_process``: the count is sender processes of that many workers, each a sender of the profile;
- several profiles (``--sender``, ``--scenario``), by default: every profile scaled by one factor, the count
  being the workers of all together (each profile gets its share, rounded, at least 1);
- several profiles and ``name``: the count is that profile's workers; the others keep theirs.

Each also says how fast the campaign's workers could go all busy (``capacity``), which the analytic
starts of :mod:`smstrio.sim.questions` invert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from smstrio.core.scenario import MAX_SENDERS, Scenario, SenderProfile

MAX_PROFILE_WORKERS = 100_000
"""The most workers one sender profile may have (:class:`~smstrio.core.scenario.SenderProfile`)."""


def _rate(profile: SenderProfile, workers: int | None = None) -> float:
    """Sends per second of ``workers`` (default: the profile's) all busy."""
    count = profile.workers if workers is None else workers
    return math.inf if profile.mean == 0 else count / profile.mean


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
        """Sends per second of the campaign at ``count`` with every worker busy."""
        return sum(_rate(p) for p in self.at(count).senders)

    @property
    def fixed_rate(self) -> float:
        """Sends per second of the profiles that stay fixed, all busy (0 when every profile scales)."""
        if self.name is None:
            return 0.0
        return sum(
            _rate(p) for n, p in zip(self.scenario.sender_names, self.scenario.senders, strict=True) if n != self.name
        )

    def mean(self) -> float:
        """The mean send time of the workers a count adds (the scaled profile's, or all profiles' together)."""
        profiles = self.scenario.senders
        if self.name is not None:
            return profiles[self.scenario.sender_names.index(self.name)].mean
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
