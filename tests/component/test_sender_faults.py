"""Component tier: a sender through a lost broker connection and a store outage, in virtual time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.errors import StoreError
from smstrio.core.stats import Counted, OutcomeRecord
from smstrio.roles.sender import run_sender
from tests.component.senderkit import CAP_S, RecordingGateway, _drain, _publish, _ready_ids, _settings, _simulated


async def test_lost_connection_reconnects_and_loses_nothing(autojump_clock: MockClock, queue_name: str) -> None:
    """A dropped connection sends in-flight messages back to the queue; the sender reconnects and drains it."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    ids = await _publish(broker, queue_name, 6)
    settings = _settings(queue_name, workers=3, mean=10.0, until_empty=True)
    gateway = RecordingGateway(_simulated(settings))

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_sender, settings, broker, store, gateway)
            await trio.sleep(1)
            broker.drop()
            assert _ready_ids(broker, queue_name) == ids

    # The three sends under way when the connection dropped still finish and count;
    # their redeliveries are recognised as duplicates.
    assert (store.totals.sent, store.totals.duplicates) == (6, 3)
    assert sorted(set(gateway.sent), key=str) == ids
    assert _ready_ids(broker, queue_name) == []


@dataclass
class FlakyStore(MemoryStore):
    """A memory store whose first ``failures`` record calls raise StoreError."""

    failures: int = 3
    calls: int = 0

    async def record(self, records: Sequence[OutcomeRecord]) -> Counted:
        self.calls += 1
        if self.calls <= self.failures:
            raise StoreError("Redis is away")
        return await super().record(records)


async def test_store_outage_is_retried_and_loses_nothing(autojump_clock: MockClock, queue_name: str) -> None:
    """While the store fails, outcomes are held unacknowledged and retried; afterwards each is counted once."""
    broker, store = MemoryBroker(), FlakyStore(clock=trio.current_time)
    await _publish(broker, queue_name, 40)
    settings = _settings(queue_name, workers=5, mean=0.1, until_empty=True)

    await _drain(settings, broker, store, _simulated(settings))

    assert store.calls == 11  # 3 that failed, then 8 that stored the batches they held
    assert (store.totals.sent, store.totals.duplicates) == (40, 0)
    assert _ready_ids(broker, queue_name) == []
    assert broker.statistics(queue_name).unacked == 0
