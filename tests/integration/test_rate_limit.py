"""Integration tier: ``smstrio send --fleet-rate-limit`` across sender processes, on the real RabbitMQ and Redis."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, stats

pytestmark = pytest.mark.services

CAP_S = 240.0
"""A real-time cap on the test."""
LIMIT = 200.0
WINDOW_S = 20.0
SENDER = ("send", "--workers", "20", "--mean", "0", "--failure-rate", "0", "--summary-interval", "0")


@pytest.fixture
def smstrio(queue_name: str, tmp_path: Path) -> Smstrio:
    """``smstrio`` commands as processes on the test's queue."""
    return Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path / "logs")


async def _processed(store: RedisStore) -> tuple[int, float]:
    """Outcomes counted so far, and when they were read."""
    t = (await store.view()).totals
    return t.sent + t.failed + t.invalid, trio.current_time()


async def _sending(store: RedisStore, beyond: int) -> None:
    """Wait until more than ``beyond`` outcomes are counted, then a second more (every sender is up by then)."""
    while (await _processed(store))[0] <= beyond:  # noqa: ASYNC110 - polls Redis
        await trio.sleep(0.5)
    await trio.sleep(1.0)


async def _rate_over(store: RedisStore, seconds: float) -> float:
    """Outcomes counted a second over the next ``seconds``."""
    before, at = await _processed(store)
    await trio.sleep(seconds)
    after, until = await _processed(store)
    return (after - before) / (until - at)


async def _stop(senders: list[trio.Process]) -> None:
    for process in senders:
        process.send_signal(signal.SIGTERM)
    for process in senders:
        await process.wait()


async def test_three_senders_hold_a_fleet_limit_and_go_faster_without_it(
    broker: AmqpBroker, store: RedisStore, smstrio: Smstrio
) -> None:
    """Three senders under --fleet-rate-limit 200 send 200/s within 5% over 20 s, each of them some of it;
    /stats shows the limit; the same three without the limit send over twice as fast."""
    with trio.fail_after(CAP_S):
        result = await smstrio.run("produce", "20000")
        assert result.returncode == 0, result.stderr
        limited = [await smstrio.start(*SENDER, "--fleet-rate-limit", str(LIMIT)) for _ in range(3)]
        await _sending(store, round(LIMIT))
        rate = await _rate_over(store, WINDOW_S)
        snap = stats(await smstrio.run("stats"))
        await _stop(limited)
        assert [p.returncode for p in limited] == [0, 0, 0], smstrio.log_text()[-3000:]

        free = [await smstrio.start(*SENDER) for _ in range(3)]
        await _sending(store, (await _processed(store))[0] + round(LIMIT))
        free_rate = await _rate_over(store, 3.0)
        await _stop(free)

    assert LIMIT * 0.95 <= rate <= LIMIT * 1.05, rate
    assert free_rate > 2 * LIMIT, free_rate
    assert len(snap["senders"]) == 3
    assert all(s["sent"] > 0 and s["fleet_rate_limit"] == LIMIT for s in snap["senders"]), json.dumps(snap)
    assert snap["limits"]["fleet_per_s"] == LIMIT
    assert snap["limits"]["wait_s"] > 0
    totals = (await store.view()).totals
    assert (totals.failed, totals.invalid, totals.duplicates) == (0, 0, 0)
    assert totals.sent + await broker.queue_depth(smstrio.queue) == 20000
