"""What the planner's count means: one profile's workers, processes, every profile by one factor, or one profile."""

from __future__ import annotations

import re

import pytest

from smstrio.core.scenario import Scenario, SenderProfile
from smstrio.sim.scaling import Scaling

FAST, SLOW = SenderProfile(name="fast", workers=30, mean=0.5), SenderProfile(name="slow", workers=10, mean=2.0)
TWO = Scenario(messages=100, senders=(FAST, SLOW))


def _workers(scenario: Scenario) -> list[tuple[str, int]]:
    return [(name, p.workers) for name, p in zip(scenario.sender_names, scenario.senders, strict=True)]


def test_one_profile_count_is_its_workers() -> None:
    """With one profile the count is its workers; 10 sends a second of 0.5 s need 5 workers."""
    scaling = Scaling(scenario=Scenario(senders=(FAST,)))

    assert (_workers(scaling.at(7)), scaling.capacity(7), scaling.count_for(10.0)) == ([("sender-1", 7)], 14.0, 5)


def test_processes_count_is_senders_of_that_many_workers() -> None:
    """With 4 workers a process the count is processes: 20 sends a second of 0.5 s need 10 workers, so 3."""
    scaling = Scaling(scenario=Scenario(senders=(FAST,)), per_process=4)

    assert (_workers(scaling.at(2)), scaling.count_for(20.0), scaling.workers(3)) == (
        [("sender-1", 4), ("sender-2", 4)],
        3,
        12,
    )


def test_every_profile_scales_by_one_factor() -> None:
    """By default the count is all workers, shared as the profiles' 30:10: 80 gives 60 and 20; each worker of the
    base averages 65 / 40 sends a second, so 130 a second needs 80."""
    scaling = Scaling(scenario=TWO)

    assert (_workers(scaling.at(80)), scaling.count_for(130.0), scaling.mean()) == (
        [("fast", 60), ("slow", 20)],
        80,
        40 / 65,
    )
    assert _workers(scaling.at(1)) == [("fast", 1), ("slow", 1)]  # every profile keeps at least one worker


def test_one_named_profile_scales_and_the_others_stay() -> None:
    """With a name the count is that profile's workers; the others' 60 sends a second come first."""
    scaling = Scaling(scenario=TWO, name="slow")

    assert (_workers(scaling.at(25)), scaling.fixed_rate, scaling.count_for(100.0), scaling.count_for(50.0)) == (
        [("fast", 30), ("slow", 25)],
        60.0,
        80,
        1,
    )


def test_most_keeps_every_profile_within_its_limit() -> None:
    """The largest count: --max-workers, no profile over 100,000 workers, no more than 1,000 processes."""
    assert (
        Scaling(scenario=TWO).most(10_000),
        Scaling(scenario=TWO).most(1_000_000),
        Scaling(scenario=TWO, name="fast").most(1_000_000),
        Scaling(scenario=Scenario(senders=(FAST,)), per_process=4).most(10_000),
    ) == (10_000, 133_333, 100_000, 1_000)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "medium"}, "no sender profile is named 'medium' (the profiles: fast, slow)"),
        ({"per_process": 5}, "workers per process scales one sender profile, not several"),
    ],
)
def test_a_scaling_that_cannot_be_is_refused(options: dict[str, object], message: str) -> None:
    """A name no profile has, or processes of several profiles: ValueError saying so."""
    with pytest.raises(ValueError, match=re.escape(message)):
        Scaling(scenario=TWO, **options)  # type: ignore[arg-type]


def test_retries_count_as_mean_attempts_of_work() -> None:
    """Half the sends failing with two attempts: 1.5 sends a message, so 7 workers of 0.5 s process 9.33 messages a
    second, not 14, and 10 a second need 8 workers, not 5."""
    retrying = SenderProfile(workers=30, mean=0.5, failure_rate=0.5, max_attempts=2)
    scaling = Scaling(scenario=Scenario(senders=(retrying,)))

    assert (round(scaling.capacity(7), 4), scaling.count_for(10.0)) == (9.3333, 8)


def test_a_limit_bounds_capacity_whatever_the_count() -> None:
    """A fleet limit of 6/s caps every count's capacity; a sender's own limit scales with processes of that sender."""
    fleet = Scaling(scenario=Scenario(senders=(FAST,), fleet_rate_limit=6.0))
    own = Scaling(scenario=Scenario(senders=(SenderProfile(workers=4, mean=0.5, rate_limit=5.0),)), per_process=4)

    assert (fleet.capacity(7), fleet.capacity(700), fleet.limit(700)) == (6.0, 6.0, (6.0, "the fleet limit 6/s"))
    assert (own.capacity(1), own.capacity(3), own.limit(3)) == (
        5.0,
        15.0,
        (15.0, "the senders' rate limits (15/s together)"),
    )
