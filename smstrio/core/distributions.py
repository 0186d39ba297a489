"""Simulated send-time distributions. Pure: each sampler draws from the ``random.Random`` it is given."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

Sampler = Callable[[], float]


class Distribution(enum.StrEnum):
    """How a simulated send time is drawn around its mean."""

    EXPONENTIAL = "exponential"
    """Memoryless; most sends fast, a long tail (the default: what real gateways look like)."""
    NORMAL = "normal"
    """Mean ± a quarter of the mean (one standard deviation), never below zero."""
    UNIFORM = "uniform"
    """Evenly between zero and twice the mean."""
    CONSTANT = "constant"
    """Exactly the mean, every time."""


def sampler(distribution: Distribution, mean: float, rng: random.Random) -> Sampler:
    """A function returning one non-negative send time in seconds per call."""
    if mean < 0:
        raise ValueError(f"mean must be >= 0, got {mean}")
    if mean == 0 or distribution is Distribution.CONSTANT:
        return lambda: mean
    match distribution:
        case Distribution.EXPONENTIAL:
            rate = 1.0 / mean
            return lambda: rng.expovariate(rate)
        case Distribution.NORMAL:
            sigma = mean / 4
            return lambda: max(0.0, rng.gauss(mean, sigma))
        case Distribution.UNIFORM:
            high = 2 * mean
            return lambda: rng.uniform(0.0, high)
    raise AssertionError(distribution)
