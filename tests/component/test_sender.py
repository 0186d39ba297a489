"""Component tier: the sender role on the in-memory broker and store, in virtual time."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryQueueStatistics, MemoryStore
from smstrio.core.distributions import Distribution
from smstrio.core.message import Sms, encode, random_sms
from smstrio.core.stats import Counted, OutcomeRecord, Totals
from smstrio.ports import Outgoing
from smstrio.roles.sender import EMPTY_CHECK_S, Sender, run_sender
from tests.component.senderkit import (
    CAP_S,
    RUN,
    RecordingGateway,
    _drain,
    _messages,
    _publish,
    _ready_ids,
    _settings,
    _simulated,
)


class FlakyGateway:
    """Takes a tenth of a second per send and raises for every third sequence number."""

    def __init__(self) -> None:
        self.attempts = 0

    async def send(self, sms: Sms) -> bool:
        self.attempts += 1
        await trio.sleep(0.1)
        if sms.seq % 3 == 0:
            raise RuntimeError("gateway exploded")
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()


@dataclass
class GatedStore(MemoryStore):
    """A memory store whose ``record`` waits for ``gate`` once it has been entered."""

    gate: trio.Event = field(default_factory=trio.Event)
    entered: trio.Event = field(default_factory=trio.Event)

    async def record(self, records: Sequence[OutcomeRecord]) -> Counted:
        self.entered.set()
        await self.gate.wait()
        return await super().record(records)


@dataclass
class GatedAckBroker(MemoryBroker):
    """A memory broker whose ``ack`` waits for ``gate`` once it has been entered."""

    gate: trio.Event = field(default_factory=trio.Event)
    entered: trio.Event = field(default_factory=trio.Event)

    async def ack(self, tags: Sequence[int]) -> None:
        self.entered.set()
        await self.gate.wait()
        await super().ack(tags)


async def test_until_empty_processes_every_message_once(autojump_clock: MockClock, queue_name: str) -> None:
    """With until_empty, every published message is sent once, counted once, and the queue ends empty."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    ids = await _publish(broker, queue_name, 300)
    settings = _settings(
        queue_name, workers=7, mean=0.2, failure_rate=0.3, distribution=Distribution.EXPONENTIAL, until_empty=True
    )
    gateway = RecordingGateway(_simulated(settings))

    await _drain(settings, broker, store, gateway)

    assert sorted(gateway.sent) == sorted(ids)
    t = store.totals
    assert t.sent + t.failed == 300
    assert (t.sent, t.failed) == (214, 86)  # seed 1 at a failure rate of 0.3
    assert (t.invalid, t.duplicates) == (0, 0)
    assert _ready_ids(broker, queue_name) == []
    assert broker.statistics(queue_name).unacked == 0


@pytest.mark.parametrize(
    ("count", "workers", "mean"),
    [(10, 4, 0.7), (12, 3, 0.3), (1, 1, 2.2), (50, 50, 1.1)],
)
async def test_constant_sends_take_rounds_of_the_mean(
    autojump_clock: MockClock, queue_name: str, count: int, workers: int, mean: float
) -> None:
    """N constant sends of S seconds on W workers end at ceil(N/W)*S; the sender stops two idle checks later."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, count)
    settings = _settings(queue_name, workers=workers, mean=mean, until_empty=True)
    gateway = RecordingGateway(_simulated(settings))
    started = trio.current_time()

    await _drain(settings, broker, store, gateway)

    busy = math.ceil(count / workers) * mean
    assert max(gateway.ended_at) - started == busy
    # The first idle check after the last send, then one more: both must see an empty queue.
    assert trio.current_time() - started == (math.floor(busy / EMPTY_CHECK_S) + 2) * EMPTY_CHECK_S
    assert store.totals.sent == count


@pytest.mark.parametrize(("failure_rate", "sent", "failed"), [(0.0, 40, 0), (1.0, 0, 40)])
async def test_failure_rate_bounds(
    autojump_clock: MockClock, queue_name: str, failure_rate: float, sent: int, failed: int
) -> None:
    """A failure rate of 0 fails nothing and a failure rate of 1 fails everything."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 40)
    settings = _settings(
        queue_name, workers=5, mean=0.5, failure_rate=failure_rate, distribution=Distribution.UNIFORM, until_empty=True
    )

    await _drain(settings, broker, store, _simulated(settings))

    assert (store.totals.sent, store.totals.failed) == (sent, failed)


async def test_concurrency_never_exceeds_workers(autojump_clock: MockClock, queue_name: str) -> None:
    """No more sends run at once than there are workers, even with a larger prefetch."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 200)
    settings = _settings(
        queue_name, workers=5, prefetch=50, mean=0.5, distribution=Distribution.EXPONENTIAL, until_empty=True
    )
    gateway = RecordingGateway(_simulated(settings, seed=3))

    await _drain(settings, broker, store, gateway)

    assert gateway.max_in_flight == 5
    assert len(gateway.sent) == 200


async def test_ack_only_after_outcome_recorded(autojump_clock: MockClock, queue_name: str) -> None:
    """Deliveries stay unacknowledged until their outcomes are recorded, so a lost connection loses none."""
    broker = MemoryBroker()
    store = GatedStore(clock=trio.current_time)
    ids = await _publish(broker, queue_name, 4)
    settings = _settings(queue_name, workers=4, mean=1.0, until_empty=True)

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_sender, settings, broker, store, _simulated(settings))
            await store.entered.wait()
            await trio.sleep(5)
            assert store.totals == Totals()
            assert broker.statistics(queue_name) == MemoryQueueStatistics(
                ready=0, unacked=4, delayed=0, dead=0, consumers=1
            )
            broker.drop()
            assert _ready_ids(broker, queue_name) == ids
            store.gate.set()

    # The held outcomes were stored once; their redeliveries after the reconnect are duplicates.
    assert (store.totals.sent, store.totals.duplicates) == (4, 4)
    assert _ready_ids(broker, queue_name) == []
    assert broker.statistics(queue_name).unacked == 0


async def test_recorded_but_unacked_redelivery_is_a_duplicate(autojump_clock: MockClock, queue_name: str) -> None:
    """A delivery recorded but not acknowledged before the connection drops comes back and counts as a duplicate."""
    broker = GatedAckBroker()
    store = MemoryStore(clock=trio.current_time)
    ids = await _publish(broker, queue_name, 3)
    settings = _settings(queue_name, workers=3, mean=1.0, until_empty=True)

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_sender, settings, broker, store, _simulated(settings))
            await broker.entered.wait()
            assert store.totals.sent == 3
            broker.drop()
            assert _ready_ids(broker, queue_name) == ids
            broker.gate.set()

    assert (store.totals.sent, store.totals.duplicates) == (3, 3)
    assert _ready_ids(broker, queue_name) == []


async def test_invalid_bodies_go_to_the_dead_letter_queue(autojump_clock: MockClock, queue_name: str) -> None:
    """Invalid bodies are counted invalid once each (per id) and dead-lettered with the reason; valid ones are sent."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    (valid,) = _messages(1)
    missing = Outgoing(f"{RUN}-5", b'{"run":"0123456789ab","seq":5}')
    await broker.publish(queue_name, [Outgoing("not-an-id", b"not json"), missing, valid, missing])
    settings = _settings(queue_name, workers=2, until_empty=True)

    await _drain(settings, broker, store, _simulated(settings))

    t = store.totals
    assert (t.sent, t.failed, t.invalid, t.duplicates) == (1, 0, 2, 1)
    dead = {
        (message_id, body, headers["x-smstrio-reason"])
        for message_id, body, headers in broker.queues[f"{queue_name}.dead"]
    }
    assert dead == {
        ("not-an-id", b"not json", "body is not JSON"),
        (missing.message_id, missing.body, "missing fields: created_at, text, to"),
    }
    assert _ready_ids(broker, queue_name) == []


async def test_outcomes_carry_service_time_and_wall_clock_latency(autojump_clock: MockClock, queue_name: str) -> None:
    """Each send's service time (virtual) and its latency from creation (wall clock) reach the store's histograms."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    created = time.time() - 5.0
    rng = random.Random(2)
    sms = [random_sms(rng, run=RUN, seq=seq, created_at=created) for seq in range(6)]
    await broker.publish(queue_name, [Outgoing(m.message_id, encode(m)) for m in sms])
    settings = _settings(queue_name, workers=3, mean=0.25, until_empty=True)

    await _drain(settings, broker, store, _simulated(settings))

    view = await store.view()
    assert (view.service.count, view.service.min, view.service.max) == (6, 250_000, 250_000)
    assert view.latency.count == 6
    # Latency runs from created_at, a wall-clock time 5 s before the test started, to the wall-clock
    # time of the outcome: 5 s plus however long this test takes in real time, which varies.
    assert 5_000_000 <= view.latency.min <= view.latency.max < 65_000_000
    assert view.totals.latency_us >= 6 * 5_000_000


async def test_redelivered_message_id_counted_once(autojump_clock: MockClock, queue_name: str) -> None:
    """The same message id delivered twice is counted once and the repeat as one duplicate."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    (message,) = _messages(1)
    await broker.publish(queue_name, [message, message])
    settings = _settings(queue_name, workers=2, until_empty=True)

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            sender: Sender = await nursery.start(run_sender, settings, broker, store, _simulated(settings))

    t = store.totals
    assert (t.sent + t.failed, t.duplicates) == (1, 1)
    assert sender.statistics().counted == Counted(sent=1, duplicates=1)


async def test_gateway_error_counts_as_failed(autojump_clock: MockClock, queue_name: str) -> None:
    """A gateway that raises makes that send a failure and the worker goes on with the next message."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 9)
    gateway = FlakyGateway()

    await _drain(_settings(queue_name, workers=1, until_empty=True), broker, store, gateway)

    assert gateway.attempts == 9
    assert (store.totals.sent, store.totals.failed) == (6, 3)
    assert _ready_ids(broker, queue_name) == []
    assert broker.statistics(queue_name).unacked == 0
