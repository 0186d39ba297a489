"""Component tier: the sender role on the in-memory broker and store, in virtual time."""

from __future__ import annotations

import collections
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryQueueStatistics, MemoryStore
from smstrio.core.config import Common, SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.core.errors import StoreError
from smstrio.core.message import Sms, encode, random_sms
from smstrio.core.stats import Counted, OutcomeRecord, Totals
from smstrio.ports import Gateway, Outgoing
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.sender import EMPTY_CHECK_S, Sender, run_sender

RUN = "0123456789ab"
CAP_S = 600.0
"""A virtual-time cap on each sender run, so that a sender that never stops fails the test instead of hanging it."""


def _settings(queue: str, **overrides: Any) -> SenderSettings:
    fields: dict[str, Any] = {
        "workers": 4,
        "mean": 1.0,
        "failure_rate": 0.0,
        "distribution": Distribution.CONSTANT,
        "batch_linger": 0.0,  # exact virtual times below; the linger has tests of its own
    }
    fields.update(overrides)
    return SenderSettings(common=Common(queue=queue), **fields)


def _simulated(settings: SenderSettings, seed: int = 1) -> SimulatedGateway:
    rng = random.Random(seed)
    return SimulatedGateway(sampler(settings.distribution, settings.mean, rng), settings.failure_rate, rng)


def _messages(count: int, seed: int = 1) -> list[Outgoing]:
    rng = random.Random(seed)
    sms = (random_sms(rng, run=RUN, seq=seq, created_at=0.0) for seq in range(count))
    return [Outgoing(m.message_id, encode(m)) for m in sms]


async def _publish(broker: MemoryBroker, queue: str, count: int) -> list[str]:
    messages = _messages(count)
    await broker.publish(queue, messages)
    return [m.message_id for m in messages]


async def _drain(settings: SenderSettings, broker: MemoryBroker, store: MemoryStore, gateway: Gateway) -> None:
    with trio.fail_after(CAP_S):
        await run_sender(settings, broker, store, gateway)


def _ready_ids(broker: MemoryBroker, queue: str) -> list[str | None]:
    return [message_id for message_id, _, _ in broker.queues.get(queue, ())]


class RecordingGateway:
    """Wraps a gateway; remembers what it sent, when each send ended, and the most sends at once."""

    def __init__(self, inner: Gateway) -> None:
        self._inner = inner
        self.sent: list[str] = []
        self.ended_at: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, sms: Sms) -> bool:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            delivered = await self._inner.send(sms)
        finally:
            self.in_flight -= 1
        self.sent.append(sms.message_id)
        self.ended_at.append(trio.current_time())
        return delivered

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._inner.run(task_status=task_status)


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


class FirstAttemptFails:
    """Fails each message's first attempt and delivers its second, taking half a second per send."""

    def __init__(self) -> None:
        self.attempts: collections.Counter[str] = collections.Counter()

    async def send(self, sms: Sms) -> bool:
        self.attempts[sms.message_id] += 1
        await trio.sleep(0.5)
        return self.attempts[sms.message_id] > 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()


async def test_failed_sends_are_retried_until_max_attempts(autojump_clock: MockClock, queue_name: str) -> None:
    """With max_attempts 3 every failing message is tried 3 times, counted failed once and retried twice."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 10)
    settings = _settings(
        queue_name, workers=10, mean=0.5, failure_rate=1.0, max_attempts=3, retry_delay=1.0, until_empty=True
    )
    gateway = RecordingGateway(_simulated(settings))
    started = trio.current_time()

    await _drain(settings, broker, store, gateway)

    assert len(gateway.sent) == 30
    t = store.totals
    assert (t.sent, t.failed, t.retried, t.duplicates, t.produced) == (0, 10, 20, 0, 10)
    # Three sends of 0.5 s with retry delays of 1 s and 2 s between them.
    assert max(gateway.ended_at) - started == 0.5 + 1 + 0.5 + 2 + 0.5
    assert trio.current_time() - started == 5.5  # two idle checks later
    assert await broker.queue_depth(queue_name) == 0


async def test_a_retry_that_succeeds_counts_as_sent(autojump_clock: MockClock, queue_name: str) -> None:
    """A message that fails once and then goes through is counted sent, once, with one retry."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    ids = await _publish(broker, queue_name, 8)
    gateway = FirstAttemptFails()

    await _drain(
        _settings(queue_name, workers=4, max_attempts=2, retry_delay=0.25, until_empty=True), broker, store, gateway
    )

    assert gateway.attempts == dict.fromkeys(ids, 2)
    t = store.totals
    assert (t.sent, t.failed, t.retried, t.produced) == (8, 0, 8, 8)


async def test_without_max_attempts_a_failure_is_final(autojump_clock: MockClock, queue_name: str) -> None:
    """The default max_attempts of 1 never retries: each failed send is counted failed at once."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    await _publish(broker, queue_name, 8)
    gateway = FirstAttemptFails()

    await _drain(_settings(queue_name, workers=4, until_empty=True), broker, store, gateway)

    assert sum(gateway.attempts.values()) == 8
    assert (store.totals.failed, store.totals.retried) == (8, 0)


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
