"""Component tier: senders under --rate-limit and --fleet-rate-limit on the in-memory twins, in virtual time."""

from __future__ import annotations

import functools
import itertools
import logging

import pytest
import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.distributions import Distribution
from smstrio.core.errors import StoreError
from smstrio.core.message import Sms
from smstrio.core.ratelimit import Gcra, Grant
from smstrio.ports import Gateway
from smstrio.roles.sender import Sender, run_sender
from tests.component.senderkit import _publish, _settings, _simulated


class StartsGateway:
    """Wraps a gateway; remembers when each send started."""

    def __init__(self, inner: Gateway) -> None:
        self._inner = inner
        self.started_at: list[float] = []

    async def send(self, sms: Sms) -> bool:
        self.started_at.append(trio.current_time())
        return await self._inner.send(sms)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._inner.run(task_status=task_status)


def _gaps(times: list[float]) -> list[float]:
    """Microsecond-rounded gaps between consecutive times, sorted by time."""
    ordered = sorted(times)
    return [round(b - a, 6) for a, b in itertools.pairwise(ordered)]


async def test_a_rate_limit_spaces_sends_exactly(autojump_clock: MockClock, queue_name: str) -> None:
    """At --rate-limit 10 with 20 workers free (exponential sends, mean 0.2 s), 60 sends start 0.1 s apart."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 60)
    settings = _settings(queue_name, workers=20, mean=0.2, distribution=Distribution.EXPONENTIAL, rate_limit=10.0)
    gateway = StartsGateway(_simulated(settings, seed=3))
    async with trio.open_nursery() as nursery:
        sender: Sender = await nursery.start(run_sender, settings, broker, store, gateway)
        await trio.sleep(10)  # 60 sends at 10/s: the last starts at 5.9 s
        waited = sender.statistics().limit_wait_s
        sender.stop()
    assert _gaps(gateway.started_at) == [0.1] * 59
    assert store.totals.sent == 60
    # 80 turns 0.1 s apart, each but the first waiting: one per message, then one per worker waiting for a message
    assert waited == 7.9


async def test_a_rate_limit_leaves_what_it_cannot_send_in_the_queue(autojump_clock: MockClock, queue_name: str) -> None:
    """At 1/s with 1 s sends, a sender holds 2 deliveries (1 s of sends + 0.25 s of the limit); the rest stay ready."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 20)
    settings = _settings(queue_name, workers=8, mean=1.0, rate_limit=1.0)
    assert settings.effective_prefetch == 2
    async with trio.open_nursery() as nursery:
        sender: Sender = await nursery.start(run_sender, settings, broker, store, _simulated(settings))
        await trio.sleep(5.5)  # started at 0..5 s, ended at 1..5 s
        sent, held = store.totals.sent, broker.statistics(queue_name)
        sender.stop()
    assert (sent, held.unacked, held.ready) == (5, 2, 13)


async def test_senders_share_a_fleet_limit_exactly(autojump_clock: MockClock, queue_name: str) -> None:
    """Three senders under --fleet-rate-limit 20 (each could do 40/s) start their sends 0.05 s apart in all."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 120)
    settings = _settings(queue_name, workers=8, mean=0.2, fleet_rate_limit=20.0)
    gateway = StartsGateway(_simulated(settings))
    async with trio.open_nursery() as nursery:
        senders: list[Sender] = [
            await nursery.start(functools.partial(run_sender, fleet=store), settings, broker, store, gateway)
            for _ in range(3)
        ]
        await trio.sleep(10)  # 120 sends at 20/s: the last starts at 5.95 s
        for sender in senders:
            sender.stop()
    shares = sorted(s.statistics().settled for s in senders)
    # While the queue holds more than the senders prefetch; at its end a sender may hold a slot for a delivery
    # that never comes (one slot lost, 0.05 s).
    assert _gaps(gateway.started_at)[:100] == [0.05] * 100
    assert len(gateway.started_at) == 120
    assert sum(shares) == 120
    assert min(shares) > 0


async def test_turns_held_through_a_quiet_spell_make_no_burst(autojump_clock: MockClock, queue_name: str) -> None:
    """Workers that took their turns while the queue was empty take fresh ones: 20 messages arriving after 5 s of
    nothing start 0.1 s apart at 10/s, not 8 at once."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    settings = _settings(queue_name, workers=8, mean=0.2, rate_limit=10.0)
    gateway = StartsGateway(_simulated(settings))
    async with trio.open_nursery() as nursery:
        sender: Sender = await nursery.start(run_sender, settings, broker, store, gateway)
        await trio.sleep(5)
        await _publish(broker, queue_name, 20)
        await trio.sleep(5)
        sender.stop()
    assert _gaps(gateway.started_at) == [0.1] * 19
    assert gateway.started_at[0] == 5.0


async def test_a_limited_senders_summary_says_how_long_its_sends_waited(
    autojump_clock: MockClock, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Under --rate-limit 1 with 4 workers free, each summary line carries the time sends waited so far."""
    caplog.set_level(logging.INFO, logger="smstrio.roles.sender")
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 20)
    settings = _settings(queue_name, workers=4, mean=0.1, rate_limit=1.0, summary_interval=5.25)
    async with trio.open_nursery() as nursery:
        sender: Sender = await nursery.start(run_sender, settings, broker, store, _simulated(settings))
        await trio.sleep(10.75)
        sender.stop()
    summaries = [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "summary"]
    # turns at 0, 1, 2, ... s, each after the first waiting 1 s: 5 by 5.25 s, 10 by 10.5 s
    assert [(s["sent"], s["limit_wait_s"]) for s in summaries] == [(6, 5.0), (11, 10.0)]


class FlakyLimiter:
    """The store's fleet limit, unavailable for its first ``failures`` grants."""

    def __init__(self, store: MemoryStore, failures: int) -> None:
        self._store = store
        self.failures = failures

    async def reserve_slots(self, want: int, limit: Gcra, horizon_us: int) -> Grant:
        if self.failures:
            self.failures -= 1
            raise StoreError("Redis at redis://x failed to reserve slots: connection refused")
        return await self._store.reserve_slots(want, limit, horizon_us)


async def test_a_fleet_limit_out_of_reach_holds_the_sends_back_until_it_answers(
    autojump_clock: MockClock, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """While the store cannot grant fleet slots, nothing is sent and nothing lost; once it answers, all go out."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 30)
    settings = _settings(queue_name, workers=4, mean=0.1, fleet_rate_limit=100.0, until_empty=True)
    limiter = FlakyLimiter(store, failures=3)
    gateway = StartsGateway(_simulated(settings))
    with trio.fail_after(60):
        await run_sender(settings, broker, store, gateway, fleet=limiter)
    assert (limiter.failures, store.totals.sent, store.totals.duplicates) == (0, 30, 0)
    # the retries' backoff came first: three failed grants wait 0.05-0.1, 0.1-0.2 and 0.2-0.4 s (unseeded jitter)
    assert min(gateway.started_at) >= 0.35
    assert "reserving fleet slots failed; retrying" in caplog.messages
