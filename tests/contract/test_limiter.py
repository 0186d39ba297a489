"""Contract tier: the fleet limit (FleetLimiter), the same tests on MemoryStore and on RedisStore's limit.lua.

Redis counts on its own clock and the calls take real time, so on ``[real]`` a delay may come
out up to ``SLACK_US`` shorter than the twin's exact one (time passing between two calls).
"""

from __future__ import annotations

from typing import cast

from smstrio.core.ratelimit import Gcra, Grant
from smstrio.ports import FleetLimiter, StatsStore
from tests.contract.world import World

HOUR_US = 3_600 * 1_000_000
SLACK_US = 200_000
"""How much wall time two calls on ``[real]`` may take between them (a loaded machine)."""


def _limiter(store: StatsStore) -> FleetLimiter:
    return cast(FleetLimiter, store)


def _delays(grant: Grant) -> list[int]:
    return [grant.delay_us(k) for k in range(grant.count)]


def _close(world: World, got: list[int], exact: list[int]) -> bool:
    """Exact on the twin; on Redis each delay at most ``SLACK_US`` under the exact one (and never over)."""
    if world.name == "memory":
        return got == exact
    return len(got) == len(exact) and all(e - SLACK_US <= g <= e for g, e in zip(got, exact, strict=True))


async def test_a_first_grant_is_due_at_once_then_one_interval_apart(store: StatsStore) -> None:
    """On a fresh queue, 5 slots at 10/s are due 0, 100, 200, 300 and 400 ms from the answer."""
    grant = await _limiter(store).reserve_slots(5, Gcra(rate=10), HOUR_US)
    assert _delays(grant) == [0, 100_000, 200_000, 300_000, 400_000]


async def test_grants_in_turn_continue_where_the_last_stopped(world: World, store: StatsStore) -> None:
    """Two callers share one rate: after 3 slots at 2/s (0, 0.5, 1 s), the next 2 are due at 1.5 and 2 s."""
    limiter, limit = _limiter(store), Gcra(rate=2)
    assert _delays(await limiter.reserve_slots(3, limit, HOUR_US)) == [0, 500_000, 1_000_000]
    assert _close(world, _delays(await limiter.reserve_slots(2, limit, HOUR_US)), [1_500_000, 2_000_000])


async def test_time_passing_brings_the_slots_nearer(world: World, store: StatsStore) -> None:
    """Slots taken up to 2 s ahead at 1/s: 1.25 s later the next is due 1.75 s on, not 3 s."""
    limiter, limit = _limiter(store), Gcra(rate=1)
    await limiter.reserve_slots(3, limit, HOUR_US)
    await world.advance(1.25)
    assert _close(world, _delays(await limiter.reserve_slots(1, limit, HOUR_US)), [1_750_000])


async def test_a_grant_stops_at_the_horizon_but_holds_one_at_least(world: World, store: StatsStore) -> None:
    """At 10/s within a 250 ms horizon, 3 of 10 slots are granted; the next call, with the horizon passed, 1."""
    limiter, limit = _limiter(store), Gcra(rate=10)
    assert _delays(await limiter.reserve_slots(10, limit, 250_000)) == [0, 100_000, 200_000]
    assert _close(world, _delays(await limiter.reserve_slots(10, limit, 0)), [300_000])


async def test_a_burst_is_due_at_once_after_a_quiet_spell(world: World, store: StatsStore) -> None:
    """With burst 3 at 20/s: 3 slots at once, then 50 ms apart; after a quiet second, 3 at once again."""
    limiter, limit = _limiter(store), Gcra(rate=20, burst=3)
    assert _delays(await limiter.reserve_slots(5, limit, HOUR_US)) == [0, 0, 0, 50_000, 100_000]
    await world.advance(1.0)
    assert _delays(await limiter.reserve_slots(4, limit, HOUR_US)) == [0, 0, 0, 50_000]


async def test_the_limit_is_forgotten_once_its_slots_have_passed(world: World, store: StatsStore) -> None:
    """The limit's one key lives while slots are ahead (reset deletes it), and is gone once they have passed."""
    limiter, limit = _limiter(store), Gcra(rate=5)
    await limiter.reserve_slots(5, limit, HOUR_US)
    assert await store.reset() == 1
    await limiter.reserve_slots(2, limit, HOUR_US)
    await world.advance(0.6)
    assert await store.reset() == 0
