"""Component tier: a sender's retries of failed sends (--max-attempts), in virtual time."""

from __future__ import annotations

import collections

import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.message import Sms
from tests.component.senderkit import RecordingGateway, _drain, _publish, _settings, _simulated


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
