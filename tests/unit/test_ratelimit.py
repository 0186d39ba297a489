"""The GCRA arithmetic of throughput limits on a hand clock, in exact microseconds."""

from __future__ import annotations

import pytest

from smstrio.core.errors import ConfigError
from smstrio.core.ratelimit import Gcra, Grant, next_slot, reserve

HOUR_US = 3_600 * 1_000_000


def test_slots_of_a_busy_limit_are_one_interval_apart() -> None:
    """At 200/s, slots asked for at the same instant are due 0, 5, 10 and 15 ms later."""
    limit = Gcra(rate=200)
    tat, due = 0, []
    for _ in range(4):
        tat, at = next_slot(tat, 1_000_000, limit)
        due.append(at)
    assert due == [1_000_000, 1_005_000, 1_010_000, 1_015_000]
    assert tat == 1_020_000


def test_a_quiet_spell_saves_nothing_without_a_burst() -> None:
    """After a second of silence the next slot is due at once, the one after a whole interval later."""
    limit = Gcra(rate=10)
    tat, first = next_slot(0, 0, limit)
    tat, second = next_slot(tat, 1_000_000, limit)
    tat, third = next_slot(tat, 1_000_000, limit)
    assert (first, second, third) == (0, 1_000_000, 1_100_000)


def test_a_burst_lets_that_many_slots_be_due_at_once() -> None:
    """With burst 3 at 100/s, three slots are due at once after a quiet spell, then one each 10 ms."""
    limit = Gcra(rate=100, burst=3)
    tat, grant = reserve(0, 5_000_000, 5, limit, HOUR_US)
    assert [grant.delay_us(k) for k in range(grant.count)] == [0, 0, 0, 10_000, 20_000]
    assert tat == 5_050_000


def test_a_grant_stops_at_the_horizon_but_gives_one_at_least() -> None:
    """At 100/s with a 25 ms horizon a grant holds 3 slots (0, 10, 20 ms); beyond the horizon only the next one."""
    limit = Gcra(rate=100)
    tat, grant = reserve(0, 0, 10, limit, 25_000)
    assert grant == Grant(3, 0, 10_000)
    tat, later = reserve(1_000_000, 0, 10, limit, 25_000)
    assert (later.count, later.delay_us(0), tat) == (1, 1_000_000, 1_010_000)


def test_a_grant_holds_what_was_asked_when_the_limit_is_far() -> None:
    """Far below the limit (1,000,000/s), 64 slots are granted in one step, the last due 63 µs on."""
    tat, grant = reserve(0, 7, 64, Gcra(rate=1_000_000), 100_000)
    assert (grant.count, grant.delay_us(0), grant.delay_us(63), tat) == (64, 0, 63, 71)


def test_grants_taken_in_turn_share_one_rate() -> None:
    """Two callers taking 4 slots each at 1,000/s get slots 0-3 ms and 4-7 ms: the limit is shared, not doubled."""
    limit = Gcra(rate=1_000)
    tat, a = reserve(0, 0, 4, limit, HOUR_US)
    tat, b = reserve(tat, 0, 4, limit, HOUR_US)
    assert [a.delay_us(k) for k in range(4)] == [0, 1_000, 2_000, 3_000]
    assert [b.delay_us(k) for k in range(4)] == [4_000, 5_000, 6_000, 7_000]


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-5, 1), (float("inf"), 1), (float("nan"), 1), (10, 0)])
def test_a_limit_that_is_no_limit_is_refused(rate: float, burst: int) -> None:
    """A rate that is not a positive finite number, or a burst under 1, is a configuration error."""
    with pytest.raises(ConfigError):
        Gcra(rate=rate, burst=burst)
