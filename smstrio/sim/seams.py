"""The simulation's seams: the in-memory broker and store with what a campaign needs, a timed gateway, and the
producer's random numbers."""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.histogram import Histogram
from smstrio.core.message import Sms
from smstrio.core.stats import Counted, OutcomeRecord
from smstrio.ports import Gateway, Outgoing, Retry

FLOW_LIMIT = 10_000
"""Ready messages at which the broker makes the producer wait (see :class:`FlowControlledBroker`)."""
TEXT_POOL = 4096
"""Characters :class:`QuickTextRandom` draws once per alphabet."""


@dataclass
class Timeline:
    """When messages were created and sends started, and each outcome's latency, on the Trio clock (seconds).

    The simulation's own account of end-to-end latency: a message's ``created_at`` is the producer's
    wall clock, which a virtual clock leaves behind.
    """

    created: list[float] = field(default_factory=list)
    """By sequence number: when each message was created (all at the start, or as it arrived)."""
    starts: array[float] = field(default_factory=lambda: array("d"))
    """When each message's first send started, in order (retries are not counted as waiting)."""
    latencies: array[float] = field(default_factory=lambda: array("d"))
    """From each message's creation to the end of its last send (8 bytes each: a million sends take 16 MB)."""
    attempts: bytearray = field(default_factory=bytearray)
    """By sequence number, the sends made of each message so far; kept only when senders retry."""


class TimedGateway:
    """Wraps a gateway; records the duration of every send that returns or raises, in microseconds, and on
    ``timeline`` when each message's first send started and, once its last send ended, its latency.

    With ``max_attempts`` above 1 (the sender's), a failed send is the last only at that attempt: the
    sender sends the others back for a retry (the count of each message's sends is kept on ``timeline``).
    """

    def __init__(self, inner: Gateway, timeline: Timeline, max_attempts: int = 1) -> None:
        self._inner = inner
        self._timeline = timeline
        self._max_attempts = max_attempts
        self.histogram = Histogram()

    async def send(self, sms: Sms) -> bool:
        started = trio.current_time()
        if self._max_attempts > 1:
            return await self._send_counted(sms, started)
        self._timeline.starts.append(started)
        try:
            delivered = await self._inner.send(sms)
        except Exception:  # a failed send still took its time; Cancelled is not a send
            self._record(started, sms)
            raise
        self._record(started, sms)
        return delivered

    async def _send_counted(self, sms: Sms, started: float) -> bool:
        attempts = self._timeline.attempts
        if len(attempts) <= sms.seq:
            attempts.extend(bytes(sms.seq + 1 - len(attempts)))
        attempts[sms.seq] += 1
        if attempts[sms.seq] == 1:
            self._timeline.starts.append(started)
        try:
            delivered = await self._inner.send(sms)
        except Exception:
            self._record(started, sms, last=attempts[sms.seq] >= self._max_attempts)
            raise
        self._record(started, sms, last=delivered or attempts[sms.seq] >= self._max_attempts)
        return delivered

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._inner.run(task_status=task_status)

    def _record(self, started: float, sms: Sms, *, last: bool = True) -> None:
        now = trio.current_time()
        self.histogram.record(round((now - started) * 1e6))
        if last:
            self._timeline.latencies.append(now - self._timeline.created[sms.seq])


@dataclass
class FlowControlledBroker(MemoryBroker):
    """A memory broker that makes publishers wait while ``limit`` messages are ready in a queue.

    As RabbitMQ's flow control does under memory pressure. Without it a long campaign would hold
    every message in memory at once (about 600 bytes each) and the garbage collector would walk
    them all on every full collection. The producer resumes at the same instant a delivery is
    acknowledged, so no virtual time passes and the outcome is the same; only ``produced`` and
    ``queue_depth`` grow and shrink gradually instead of all at once.
    """

    limit: int = FLOW_LIMIT
    _room: trio.Event = field(default_factory=trio.Event)
    loading: bool = False
    """Set while the producer loads a whole campaign: retries then wait aside until :meth:`loaded`, so that
    they come back behind every message of the campaign, as if it had been published at once."""
    _parked: list[tuple[str, Retry, float]] = field(default_factory=list)
    """Retries sent back while loading: their queue, themselves and when they are due."""

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> list[bool]:
        while len(self.queues.get(queue, ())) >= self.limit:
            await self._room.wait()
        return await super().publish(queue, messages)

    async def ack(self, tags: Sequence[int]) -> None:
        await super().ack(tags)
        self._room.set()
        self._room = trio.Event()

    async def retry_later(self, queue: str, retries: Sequence[Retry]) -> None:
        if not self.loading:
            return await super().retry_later(queue, retries)
        now = self.clock()
        self._parked.extend((queue, r, now + r.delay_s) for r in retries)
        await trio.lowlevel.checkpoint()

    async def loaded(self) -> None:
        """The campaign is published: the retries set aside while loading go to ``<queue>.retry`` in order,
        each due when it was."""
        self.loading = False
        now, parked = self.clock(), self._parked
        self._parked = []
        for queue in dict.fromkeys(q for q, _, _ in parked):
            await super().retry_later(
                queue, [replace(r, delay_s=max(0.0, due - now)) for q, r, due in parked if q == queue]
            )


@dataclass
class CountingStore(MemoryStore):
    """A memory store that sets ``done`` once ``target`` outcomes are counted: a drained wait, no polling."""

    target: int = 0
    done: trio.Event = field(default_factory=trio.Event)
    last_at: float | None = None
    """When the last outcome was counted."""

    async def record(self, records: Sequence[OutcomeRecord]) -> Counted:
        counted = await super().record(records)
        if counted.processed:
            self.last_at = self.clock()
        t = self.totals
        if t.sent + t.failed + t.invalid >= self.target:
            self.done.set()
        return counted


class QuickTextRandom(random.Random):
    """The simulated producer's ``random.Random``: :meth:`choices` of an alphabet takes ``k`` characters at one
    random offset into a pool of :data:`TEXT_POOL` drawn once, not one draw per character.

    The producer draws each alert's number and text with ``choices``; in a simulation nothing reads them
    but their lengths, and drawing them took a seventh of a simulated campaign's time (24 µs an alert, 7 µs
    this way). Lengths, ids and every other draw are the ``random.Random`` ones.
    """

    _randbelow: Callable[[int], int]
    """``random.Random``'s own draw of an int in ``[0, n)``, which ``randrange`` and ``randint`` end in (not in
    typeshed)."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self._pools: dict[str, list[Any]] = {}

    def randint(self, a: int, b: int) -> int:
        """What ``random.Random.randint`` draws for ``int`` bounds, without its checks of them."""
        return a + self._randbelow(b - a + 1)

    def choices(self, population: Any, weights: Any = None, *, cum_weights: Any = None, k: int = 1) -> list[Any]:
        if weights is not None or cum_weights is not None or not isinstance(population, str) or k > TEXT_POOL // 2:
            return super().choices(population, weights, cum_weights=cum_weights, k=k)
        pool = self._pools.get(population)
        if pool is None:
            pool = self._pools[population] = super().choices(population, k=TEXT_POOL)
        start = self._randbelow(TEXT_POOL - k)  # self.randrange(TEXT_POOL - k)
        return pool[start : start + k]
