"""Component tier: what a sender reports of itself: its heartbeat and its summary log lines, in virtual time."""

from __future__ import annotations

import collections
import logging
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.distributions import Distribution
from smstrio.roles.sender import Sender, run_sender
from tests.component.senderkit import CAP_S, _drain, _publish, _settings, _simulated


async def test_heartbeat_announces_sender_until_clean_stop(autojump_clock: MockClock, queue_name: str) -> None:
    """A running sender stays listed with its settings beyond the heartbeat TTL and is gone after a clean stop."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    settings = _settings(queue_name, workers=6, mean=0.25, failure_rate=0.125, distribution=Distribution.NORMAL)

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            sender: Sender = await nursery.start(run_sender, settings, broker, store, _simulated(settings))
            for _ in range(3):
                (info,) = (await store.view()).senders
                assert info.id == sender.info.id
                assert (info.workers, info.mean_s, info.failure_rate, info.distribution) == (6, 0.25, 0.125, "normal")
                await trio.sleep(10)
            sender.stop()

    assert (await store.view()).senders == []


async def test_sender_logs_a_summary_of_its_own_work_every_interval(
    autojump_clock: MockClock, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every summary_interval a "summary" line gives this sender's counts so far and its rate since the last line."""
    caplog.set_level(logging.INFO, logger="smstrio.roles.sender")
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 8)
    settings = _settings(queue_name, workers=2, mean=1.0, summary_interval=2.5)  # 2 sends a second until t=4

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            sender: Sender = await nursery.start(run_sender, settings, broker, store, _simulated(settings))
            await trio.sleep(5.5)
            sender.stop()

    fields: collections.defaultdict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for record in caplog.records:
        fields[record.getMessage()].append(getattr(record, "fields", {}))
    summaries = fields["summary"]
    assert [(s["settled"], s["sent"], s["rate_per_s"], s["in_flight"]) for s in summaries] == [
        (4, 4, 1.6, 2),
        (8, 8, 1.6, 0),
    ]
    assert fields["stopped"][0]["retried"] == 0


async def test_a_zero_summary_interval_logs_no_summary(
    autojump_clock: MockClock, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """summary_interval 0 turns the summary lines off."""
    caplog.set_level(logging.INFO, logger="smstrio.roles.sender")
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 4)
    settings = _settings(queue_name, workers=2, mean=1.0, summary_interval=0.0, until_empty=True)
    await _drain(settings, broker, store, _simulated(settings))
    assert store.totals.sent == 4
    assert not [r for r in caplog.records if r.getMessage() == "summary"]
