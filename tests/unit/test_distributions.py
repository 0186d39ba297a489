"""Unit tests for the simulated send-time distributions."""

from __future__ import annotations

import random
import statistics

import pytest

from smstrio.core.distributions import Distribution, sampler

DRAWS = 20_000
MEAN = 2.0


def draws(distribution: Distribution, mean: float, *, seed: int = 1, n: int = DRAWS) -> list[float]:
    """``n`` samples from a sampler seeded with ``seed``."""
    sample = sampler(distribution, mean, random.Random(seed))
    return [sample() for _ in range(n)]


@pytest.mark.parametrize(
    ("distribution", "sample_mean"),
    [
        # Seed 1's means. The standard error over 20,000 draws is sigma / 141, so each lies within one of MEAN.
        (Distribution.EXPONENTIAL, 2.005708427594892),  # sigma = mean: +0.29%, 0.4 standard errors
        (Distribution.NORMAL, 1.9981205736394594),  # sigma = mean / 4: -0.09%, 0.5 standard errors
        (Distribution.UNIFORM, 1.9993740788420804),  # sigma = mean / sqrt(3): -0.03%, 0.08 standard errors
    ],
)
def test_sample_mean_is_the_requested_mean(distribution: Distribution, sample_mean: float) -> None:
    """Seed 1's 20,000 draws average to the requested mean, give or take a standard error."""
    assert statistics.fmean(draws(distribution, MEAN)) == sample_mean


@pytest.mark.parametrize("distribution", list(Distribution))
def test_samples_are_never_negative(distribution: Distribution) -> None:
    """No distribution draws a negative send time."""
    assert min(draws(distribution, MEAN)) >= 0


def test_normal_is_clamped_at_zero() -> None:
    """The normal distribution never goes below zero, even far in its left tail."""

    class FarLeft(random.Random):
        """A generator whose every Gaussian draw lands ten standard deviations below the mean."""

        def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
            return mu - 10 * sigma

    assert sampler(Distribution.NORMAL, MEAN, FarLeft(3))() == 0.0


def test_normal_spread_is_a_quarter_of_the_mean() -> None:
    """The normal distribution's standard deviation is a quarter of the mean (seed 1: 0.499 for 0.5)."""
    assert statistics.stdev(draws(Distribution.NORMAL, MEAN)) == 0.49917584762671474


def test_exponential_has_a_long_tail() -> None:
    """The exponential distribution's standard deviation is its mean (seed 1: 2.016 for 2)."""
    assert statistics.stdev(draws(Distribution.EXPONENTIAL, MEAN)) == 2.0159138265732177


def test_uniform_stays_within_zero_and_twice_the_mean() -> None:
    """Uniform draws lie within [0, 2 * mean] and cover it: seed 1's reach 0.0002 and 3.99996."""
    samples = draws(Distribution.UNIFORM, MEAN)
    assert (min(samples), max(samples)) == (0.00020755650547821247, 3.9999595712316194)


def test_constant_is_exactly_the_mean() -> None:
    """The constant distribution returns the mean every time."""
    assert set(draws(Distribution.CONSTANT, 0.25, n=100)) == {0.25}


@pytest.mark.parametrize("distribution", list(Distribution))
def test_zero_mean_gives_zero(distribution: Distribution) -> None:
    """A mean of zero makes every distribution return zero."""
    assert set(draws(distribution, 0.0, n=100)) == {0.0}


@pytest.mark.parametrize("distribution", list(Distribution))
def test_negative_mean_raises(distribution: Distribution) -> None:
    """A negative mean raises ValueError when the sampler is made."""
    with pytest.raises(ValueError, match="mean must be >= 0"):
        sampler(distribution, -0.5, random.Random(0))


@pytest.mark.parametrize("distribution", list(Distribution))
def test_same_seed_same_samples(distribution: Distribution) -> None:
    """Samplers seeded alike draw the same sequence."""
    assert draws(distribution, MEAN, seed=9, n=50) == draws(distribution, MEAN, seed=9, n=50)


def test_distribution_parses_from_its_value() -> None:
    """Each distribution is named by its lowercase string value."""
    assert [Distribution(d.value) for d in Distribution] == list(Distribution)
    assert str(Distribution.EXPONENTIAL) == "exponential"
