"""Component tier: the producer role on the in-memory broker and store, in virtual time."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, ProducerSettings
from smstrio.core.errors import BrokerError, PublishError
from smstrio.core.message import decode, format_message_id, parse_message_id
from smstrio.ports import Outgoing
from smstrio.roles.producer import PUBLISH_ATTEMPTS, ProduceSummary, refusal_delay, run_producer


@dataclass
class ScriptedBroker(MemoryBroker):
    """A memory broker taking one virtual second per publish, refusing chosen sequence numbers.

    ``nack_once`` are refused the first time they are published, ``nack_always`` every time.
    A refused message is not enqueued.
    """

    nack_once: set[int] = field(default_factory=set)
    nack_always: set[int] = field(default_factory=set)
    batches: list[list[str]] = field(default_factory=list)

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> list[bool]:
        self.batches.append([m.message_id for m in messages])
        await trio.sleep(1)
        flags = []
        for m in messages:
            seq = parse_message_id(m.message_id)[1]
            refused = seq in self.nack_always or seq in self.nack_once
            self.nack_once.discard(seq)
            flags.append(not refused)
        await super().publish(queue, [m for m, ok in zip(messages, flags, strict=True) if ok])
        return flags


def _settings(queue: str, count: int, window: int) -> ProducerSettings:
    return ProducerSettings(common=Common(queue=queue), count=count, window=window)


def _queued(broker: MemoryBroker, queue: str) -> list[tuple[str | None, bytes]]:
    return [(message_id, body) for message_id, body, _ in broker.queues[queue]]


async def test_publishes_count_messages_a_window_at_a_time(autojump_clock: MockClock, queue_name: str) -> None:
    """COUNT messages are published in windows, decode, carry ids run-0..run-(COUNT-1) and are all counted produced."""
    broker, store = ScriptedBroker(), MemoryStore(clock=trio.current_time)

    summary = await run_producer(_settings(queue_name, 2500, 1000), broker, store, rng=random.Random(7))

    run = summary.run
    queued = _queued(broker, queue_name)
    assert [message_id for message_id, _ in queued] == [format_message_id(run, seq) for seq in range(2500)]
    for message_id, body in queued:
        assert decode(body).message_id == message_id
    assert [len(batch) for batch in broker.batches] == [1000, 1000, 500]
    assert store.totals.produced == 2500
    assert summary == ProduceSummary(
        queue=queue_name, run=run, published=2500, confirmed=2500, seconds=3.0, rate_per_s=833.3
    )


async def test_run_id_handed_to_task_status(autojump_clock: MockClock, queue_name: str) -> None:
    """The run id handed to task_status is the one every published message carries."""
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)

    async with trio.open_nursery() as nursery:
        run: str = await nursery.start(run_producer, _settings(queue_name, 20, 7), broker, store)

    assert {parse_message_id(decode(body).message_id)[0] for _, body in _queued(broker, queue_name)} == {run}
    assert store.totals.produced == 20


async def test_seed_makes_runs_repeatable(autojump_clock: MockClock, queue_name: str) -> None:
    """Two runs with the same settings seed publish the same run id and the same bodies."""
    settings = ProducerSettings(common=Common(queue=queue_name), count=50, window=16, seed=11)
    brokers = [MemoryBroker(), MemoryBroker()]
    for broker in brokers:
        await run_producer(settings, broker, MemoryStore(clock=trio.current_time))

    first, second = (_queued(b, queue_name) for b in brokers)
    assert len(first) == 50
    assert [(m, decode(b).to, decode(b).text) for m, b in first] == [
        (m, decode(b).to, decode(b).text) for m, b in second
    ]


async def test_nacked_messages_republished_under_same_ids(autojump_clock: MockClock, queue_name: str) -> None:
    """Messages refused once are published again under the same ids, and produced stays exactly COUNT."""
    refused = {0, 3, 999, 1000, 2499}
    broker = ScriptedBroker(nack_once=set(refused))
    store = MemoryStore(clock=trio.current_time)

    summary = await run_producer(_settings(queue_name, 2500, 1000), broker, store, rng=random.Random(7))

    ids = sorted((parse_message_id(m)[1] for m, _ in _queued(broker, queue_name) if m is not None))
    assert ids == list(range(2500))
    assert store.totals.produced == 2500
    assert (summary.published, summary.confirmed) == (2500 + len(refused), 2500)
    retries = [batch for batch in broker.batches if len(batch) < 500]
    assert sorted(parse_message_id(m)[1] for batch in retries for m in batch) == sorted(refused)
    assert summary.seconds == 6.3  # three windows, each published twice, 0.1 s after its refusal


async def test_always_nacked_raises_publish_error(autojump_clock: MockClock, queue_name: str) -> None:
    """A message the broker always refuses raises PublishError after PUBLISH_ATTEMPTS publishes, 0.1 s apart
    doubling up to 5 s; produced counts only the confirmed ones."""
    broker = ScriptedBroker(nack_always={5})
    store = MemoryStore(clock=trio.current_time)

    started = trio.current_time()
    with pytest.raises(PublishError, match="refused 1 messages 10 times; 7 were confirmed"):
        await run_producer(_settings(queue_name, 10, 4), broker, store, rng=random.Random(7))
    waited = 0.1 + 0.2 + 0.4 + 0.8 + 1.6 + 3.2 + 5 * 3
    assert sum(refusal_delay(n) for n in range(1, PUBLISH_ATTEMPTS)) == pytest.approx(waited)
    assert trio.current_time() - started == pytest.approx(1 + PUBLISH_ATTEMPTS + waited)  # each publish takes 1 s

    assert store.totals.produced == 7
    assert len(_queued(broker, queue_name)) == 7
    attempts = sum(parse_message_id(m)[1] == 5 for batch in broker.batches for m in batch)
    assert attempts == PUBLISH_ATTEMPTS


@dataclass
class DroppingBroker(MemoryBroker):
    """A memory broker that, on its ``drop_at``-th publish, enqueues the messages but loses the connection."""

    drop_at: int = 2
    publishes: int = 0

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> list[bool]:
        self.publishes += 1
        flags = await super().publish(queue, messages)
        if self.publishes == self.drop_at:
            self.drop()
            raise BrokerError("connection reset")
        return flags


async def test_lost_connection_republishes_unconfirmed_under_same_ids(
    autojump_clock: MockClock, queue_name: str
) -> None:
    """After a lost connection the producer reconnects and publishes the unconfirmed window again, counted once."""
    broker, store = DroppingBroker(), MemoryStore(clock=trio.current_time)

    with trio.fail_after(600):
        summary = await run_producer(_settings(queue_name, 300, 100), broker, store)

    ids = [message_id for message_id, _ in _queued(broker, queue_name)]
    assert (summary.confirmed, summary.published, store.totals.produced) == (300, 400, 300)
    assert len(ids) == 400
    assert sorted(set(ids), key=lambda i: parse_message_id(str(i))[1]) == [
        format_message_id(summary.run, seq) for seq in range(300)
    ]
