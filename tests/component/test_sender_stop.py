"""Component tier: a sender's graceful stop on the in-memory broker and store, in virtual time."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.stats import Totals
from smstrio.roles.sender import Sender, run_sender
from tests.component.senderkit import CAP_S, RecordingGateway, _publish, _ready_ids, _settings, _simulated


async def test_graceful_stop_finishes_sends_in_flight(autojump_clock: MockClock, queue_name: str) -> None:
    """stop() while sends are in flight lets them finish and records and acknowledges them."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 3)
    settings = _settings(queue_name, workers=3, mean=10.0, grace=30.0)
    gateway = RecordingGateway(_simulated(settings))
    started = trio.current_time()

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            sender: Sender = await nursery.start(run_sender, settings, broker, store, gateway)
            await trio.sleep(1)
            assert gateway.in_flight == 3
            sender.stop()

    assert trio.current_time() - started == 10.0
    assert store.totals.sent == 3
    assert sender.statistics().settled == 3
    assert broker.statistics(queue_name).unacked == 0
    assert _ready_ids(broker, queue_name) == []


async def test_stop_takes_no_new_deliveries(autojump_clock: MockClock, queue_name: str) -> None:
    """After stop() deliveries no worker started go straight back to the queue; in-flight sends finish."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    ids = await _publish(broker, queue_name, 10)
    settings = _settings(queue_name, workers=3, prefetch=6, mean=10.0, grace=30.0)
    gateway = RecordingGateway(_simulated(settings))
    started = trio.current_time()

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            sender: Sender = await nursery.start(run_sender, settings, broker, store, gateway)
            await trio.sleep(1)
            sender.stop()

    assert trio.current_time() - started == settings.mean
    assert _ready_ids(broker, queue_name) == ids[3:]
    assert sorted(gateway.sent) == ids[:3]
    assert store.totals.sent == len(gateway.sent) == sender.statistics().settled == 3
    await broker.aclose()
    assert sorted(gateway.sent + [i for i in _ready_ids(broker, queue_name) if i is not None]) == ids


async def test_stop_after_grace_returns_unfinished_sends(autojump_clock: MockClock, queue_name: str) -> None:
    """With no grace, unfinished sends are neither counted nor lost: they return to the queue on close."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    ids = await _publish(broker, queue_name, 5)
    settings = _settings(queue_name, workers=3, prefetch=4, mean=10.0, grace=0.0)
    gateway = RecordingGateway(_simulated(settings))
    started = trio.current_time()

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            sender: Sender = await nursery.start(run_sender, settings, broker, store, gateway)
            await trio.sleep(1)
            assert gateway.in_flight == 3
            sender.stop()

    assert trio.current_time() - started == 1.0
    assert gateway.sent == []
    assert store.totals == Totals()
    assert _ready_ids(broker, queue_name) == ids[3:]
    await broker.aclose()
    assert sorted(i for i in _ready_ids(broker, queue_name) if i is not None) == ids
