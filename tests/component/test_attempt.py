"""Component tier: what a gateway's refusal (GatewayError) makes of a delivery, on the in-memory seams."""

from __future__ import annotations

import collections
import random

import pytest
import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, SenderSettings
from smstrio.core.distributions import Distribution
from smstrio.core.errors import GatewayError
from smstrio.core.message import Sms, encode, random_sms
from smstrio.ports import Outgoing
from smstrio.roles.sender import run_sender

RUN = "0123456789ab"
CAP_S = 600.0
"""A virtual-time cap on each sender run."""


class RefusesFirstAttempt:
    """Refuses each message's first attempt with a GatewayError, takes the next; remembers when each attempt began."""

    def __init__(self, *, retry_after: float | None, permanent: bool = False) -> None:
        self._retry_after = retry_after
        self._permanent = permanent
        self.attempts: collections.defaultdict[str, list[float]] = collections.defaultdict(list)

    async def send(self, sms: Sms) -> bool:
        self.attempts[sms.message_id].append(trio.current_time())
        if len(self.attempts[sms.message_id]) == 1:
            raise GatewayError("answered 429", retry_after=self._retry_after, permanent=self._permanent)
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()


async def _run(queue: str, gateway: RefusesFirstAttempt, *, retry_delay: float) -> MemoryStore:
    broker, store = MemoryBroker(), MemoryStore(clock=trio.current_time)
    rng = random.Random(1)
    messages = [random_sms(rng, run=RUN, seq=seq, created_at=0.0) for seq in range(4)]
    await broker.publish(queue, [Outgoing(m.message_id, encode(m)) for m in messages])
    settings = SenderSettings(
        common=Common(queue=queue),
        workers=4,
        mean=0.0,
        distribution=Distribution.CONSTANT,
        max_attempts=3,
        retry_delay=retry_delay,
        until_empty=True,
        batch_linger=0.0,
    )
    with trio.fail_after(CAP_S):
        await run_sender(settings, broker, store, gateway)
    return store


@pytest.mark.parametrize(
    ("retry_after", "retry_delay", "gap"),
    [(3.0, 0.25, 3.0), (0.1, 1.0, 1.0), (None, 1.0, 1.0)],
    ids=["retry-after-longer", "retry-delay-longer", "no-retry-after"],
)
async def test_a_retry_waits_the_longer_of_retry_after_and_the_retry_delay(
    autojump_clock: MockClock, queue_name: str, retry_after: float | None, retry_delay: float, gap: float
) -> None:
    """A refused send is retried after the wait the gateway asked for, or the retry delay if that is longer."""
    gateway = RefusesFirstAttempt(retry_after=retry_after)

    store = await _run(queue_name, gateway, retry_delay=retry_delay)

    assert {len(times) for times in gateway.attempts.values()} == {2}
    assert {second - first for first, second in gateway.attempts.values()} == {gap}
    t = store.totals
    assert (t.sent, t.failed, t.retried) == (4, 0, 4)


async def test_a_permanent_refusal_is_failed_without_retries(autojump_clock: MockClock, queue_name: str) -> None:
    """A permanent refusal (a 4xx other than 429) counts failed at once, even with attempts left."""
    gateway = RefusesFirstAttempt(retry_after=None, permanent=True)

    store = await _run(queue_name, gateway, retry_delay=0.5)

    assert {len(times) for times in gateway.attempts.values()} == {1}
    t = store.totals
    assert (t.sent, t.failed, t.retried) == (0, 4, 0)
