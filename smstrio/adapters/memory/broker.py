"""The in-process twin of the AMQP broker, for tests and the embedded simulation.

They keep the same promises as the real adapters where the roles can tell: deliveries
respect the prefetch, unacknowledged deliveries return to the queue when the
connection closes, outcomes are counted once per message id.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import trio

from smstrio.core.errors import BrokerError
from smstrio.ports import ATTEMPT_HEADER, DEAD_REASON_CHARS, DeadLetter, Delivery, Outgoing, QueueInfo, Retry

_REDELIVERED = "x-memory-redelivered"
"""How the twin marks a message it gave back to its queue (RabbitMQ keeps this flag beside the message,
not in its headers); consumers see it as ``Delivery.redelivered``, never as a header."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryQueueStatistics:
    """Where the messages of one queue are in the twin right now (as trio's ``statistics()`` records)."""

    ready: int
    """Messages ready in the queue, waiting for a consumer."""
    unacked: int
    """Messages delivered from the queue to consumers and not yet acknowledged or requeued."""
    delayed: int
    """Messages waiting in ``<queue>.retry`` for their delay (a due one returns while watched, or on the next call)."""
    dead: int
    """Messages in the dead-letter queue ``<queue>.dead``."""
    consumers: int
    """Consumers attached to the queue and not cancelled."""


@dataclass
class _Consumer:
    queue: str
    prefetch: int
    sink: trio.MemorySendChannel[Delivery]
    unacked: int = 0


@dataclass
class MemoryBroker:
    """A broker in memory. ``queues`` maps a queue name to its ready ``(message_id, body, headers)``."""

    queues: dict[str, collections.deque[tuple[str | None, bytes, dict[str, str]]]] = field(default_factory=dict)
    _consumers: dict[str, _Consumer] = field(default_factory=dict)
    _unacked: dict[int, tuple[str, str | None, bytes, dict[str, str]]] = field(default_factory=dict)
    _owner: dict[int, str] = field(default_factory=dict)
    _tags: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lost: trio.Event = field(default_factory=trio.Event)
    closed: bool = False
    clock: Callable[[], float] = trio.current_time
    """What ``retry_later`` delays are measured on."""
    _delayed: dict[str, collections.deque[tuple[float, str | None, bytes, int]]] = field(default_factory=dict)
    """Per queue, (due, message_id, body, attempt) waiting in ``<queue>.retry``, oldest first. As RabbitMQ
    expires only the head of a queue, a retry due sooner waits behind an earlier one with a longer delay."""
    _wake: trio.Event = field(default_factory=trio.Event)
    """Set, then replaced, when a retry is scheduled or the connection drops: every ``watch`` looks again."""

    def _ready(self, queue: str) -> collections.deque[tuple[str | None, bytes, dict[str, str]]]:
        return self.queues.setdefault(queue, collections.deque())

    def _pump(self) -> None:
        now = self.clock()
        for queue, waiting in self._delayed.items():
            while waiting and waiting[0][0] <= now:
                _, message_id, body, attempt = waiting.popleft()
                self._ready(queue).append((message_id, body, {ATTEMPT_HEADER: str(attempt)}))
        unacked, owner, tags = self._unacked, self._owner, self._tags
        for ctag, consumer in list(self._consumers.items()):
            queue, ready, deliver = consumer.queue, self._ready(consumer.queue), consumer.sink.send_nowait
            while ready and consumer.unacked < consumer.prefetch:
                message_id, body, headers = ready.popleft()
                tag = next(tags)
                unacked[tag] = (queue, message_id, body, headers)
                owner[tag] = ctag
                consumer.unacked += 1
                if headers:
                    deliver(
                        Delivery(tag, body, message_id, _REDELIVERED in headers, int(headers.get(ATTEMPT_HEADER, 1)))
                    )
                else:  # published once, not yet given back or retried
                    deliver(Delivery(tag, body, message_id))

    def _give_back(self, tag: int) -> None:
        """Return an unacknowledged delivery to the head of its queue, marked redelivered as RabbitMQ marks it."""
        queue, message_id, body, headers = self._unacked.pop(tag)
        self._ready(queue).appendleft((message_id, body, headers | {_REDELIVERED: "1"}))

    def _check(self) -> None:
        if self.closed:
            raise BrokerError("memory broker connection is closed")

    async def declare(self, queue: str) -> None:
        self._check()
        self._ready(queue)
        self._ready(f"{queue}.dead")

    async def exists(self, queue: str) -> bool:
        self._check()
        await trio.lowlevel.checkpoint()
        return queue in self.queues

    async def reconnect(self) -> None:
        await trio.lowlevel.checkpoint()
        if self.closed:
            self.closed = False
            self._lost = trio.Event()

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> list[bool]:
        self._check()
        await trio.lowlevel.checkpoint()
        self._ready(queue).extend((m.message_id, m.body, {}) for m in messages)
        self._pump()
        return [True] * len(messages)

    async def consume(self, queue: str, prefetch: int, sink: trio.MemorySendChannel[Delivery]) -> str:
        self._check()
        ctag = f"ctag-{len(self._consumers) + 1}-{next(self._tags)}"
        self._consumers[ctag] = _Consumer(queue, prefetch, sink)
        self._pump()
        return ctag

    async def cancel(self, consumer_tag: str) -> None:
        self._check()
        await trio.lowlevel.checkpoint()
        consumer = self._consumers.get(consumer_tag)
        if consumer is not None:
            consumer.prefetch = 0

    async def ack(self, tags: Sequence[int]) -> None:
        self._check()
        await trio.lowlevel.checkpoint()
        for tag in tags:
            if self._unacked.pop(tag, None) is None:
                continue  # from a connection that was dropped: already requeued
            consumer = self._consumers.get(self._owner.pop(tag))
            if consumer is not None:
                consumer.unacked -= 1
        self._pump()

    async def requeue(self, tags: Sequence[int]) -> None:
        self._check()
        await trio.lowlevel.checkpoint()
        for tag in sorted((t for t in tags if t in self._unacked), reverse=True):
            self._give_back(tag)
            consumer = self._consumers.get(self._owner.pop(tag))
            if consumer is not None:
                consumer.unacked -= 1
        self._pump()

    async def retry_later(self, queue: str, retries: Sequence[Retry]) -> None:
        self._check()
        await trio.lowlevel.checkpoint()
        now = self.clock()
        waiting = self._delayed.setdefault(queue, collections.deque())
        waiting.extend((now + r.delay_s, r.message_id, r.body, r.attempt) for r in retries)
        self._pump()
        self._nudge()

    async def dead_letter(self, queue: str, letters: Sequence[DeadLetter]) -> None:
        self._check()
        await trio.lowlevel.checkpoint()
        dead = self._ready(f"{queue}.dead")
        dead.extend((x.message_id, x.body, {"x-smstrio-reason": x.reason[:DEAD_REASON_CHARS]}) for x in letters)

    async def dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        self._check()
        await trio.lowlevel.checkpoint()
        dead = list(self._ready(f"{queue}.dead"))[:limit]
        return [DeadLetter(body, message_id, headers.get("x-smstrio-reason", "")) for message_id, body, headers in dead]

    async def requeue_dead(self, queue: str, limit: int) -> int:
        self._check()
        await trio.lowlevel.checkpoint()
        dead = self._ready(f"{queue}.dead")
        moved = 0
        while dead and moved < limit:
            message_id, body, _ = dead.popleft()
            self._ready(queue).append((message_id, body, {}))
            moved += 1
        self._pump()
        return moved

    async def queue_depth(self, queue: str) -> int:
        self._check()
        await trio.lowlevel.checkpoint()
        self._pump()
        return len(self._ready(queue)) + len(self._delayed.get(queue, ()))

    async def queue_info(self, queue: str) -> QueueInfo:
        depth = await self.queue_depth(queue)
        return QueueInfo(depth=depth, consumers=self._consumer_count(queue))

    def statistics(self, queue: str) -> MemoryQueueStatistics:
        """Count where the messages of ``queue`` are, changing nothing."""
        return MemoryQueueStatistics(
            ready=len(self.queues.get(queue, ())),
            unacked=sum(1 for entry in self._unacked.values() if entry[0] == queue),
            delayed=len(self._delayed.get(queue, ())),
            dead=len(self.queues.get(f"{queue}.dead", ())),
            consumers=self._consumer_count(queue),
        )

    def _consumer_count(self, queue: str) -> int:
        return sum(1 for c in self._consumers.values() if c.queue == queue and c.prefetch > 0)

    async def watch(self) -> NoReturn:
        """Also the broker's own timed work: while watched (as senders watch), each retry returns when due."""
        lost = self._lost
        while not lost.is_set():
            wake = self._wake
            with trio.move_on_after(self._until_due()):
                await wake.wait()
            self._pump()
        raise BrokerError("memory broker connection lost")

    def _until_due(self) -> float:
        """Seconds until the next retry is due, on ``clock``."""
        due = min((waiting[0][0] for waiting in self._delayed.values() if waiting), default=math.inf)
        return max(0.0, due - self.clock())

    def _nudge(self) -> None:
        self._wake.set()
        self._wake = trio.Event()

    def drop(self) -> None:
        """Simulate a lost connection: requeue what was not acknowledged, wake ``watch``."""
        self._requeue()
        self.closed = True
        self._lost.set()
        self._nudge()

    def _requeue(self) -> None:
        for tag in sorted(self._unacked, reverse=True):
            self._give_back(tag)
        self._owner.clear()
        self._consumers.clear()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        if not self.closed:
            self._requeue()
            self.closed = True
