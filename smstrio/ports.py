"""The seams between roles and services: Protocols, with in-memory twins in ``adapters/memory``.

Roles depend only on these. The adapters in ``smstrio/adapters`` implement them over
RabbitMQ and Redis; ``smstrio/adapters/memory`` implements them in-process for tests and
the embedded simulation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn, Protocol

import trio

from smstrio.core.audit import RunLedger
from smstrio.core.heartbeat import SenderInfo
from smstrio.core.message import Sms
from smstrio.core.ratelimit import Gcra, Grant
from smstrio.core.stats import Counted, OutcomeRecord, StoreView

ATTEMPT_HEADER = "x-smstrio-attempt"
"""The message header carrying which attempt a retried message is on."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to publish: its stable id and encoded body."""

    message_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message handed to this consumer; ``tag`` (opaque) settles it."""

    tag: int
    body: bytes
    message_id: str | None = None
    redelivered: bool = False
    attempt: int = 1
    """Which attempt at sending this message the delivery is (``x-smstrio-attempt``, 1 at first)."""


@dataclass(frozen=True, slots=True)
class Retry:
    """A message whose send failed, to be delivered again after ``delay_s`` as attempt ``attempt``."""

    body: bytes
    message_id: str | None
    attempt: int
    delay_s: float


DEAD_REASON_CHARS = 500
"""A dead letter keeps the first this many characters of its reason (an AMQP header value)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be processed, with the reason it goes to the dead-letter queue."""

    body: bytes
    message_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """What the broker says of a queue right now."""

    depth: int
    """Messages ready in the queue plus those waiting in ``<queue>.retry``."""
    consumers: int
    """Consumers attached to the queue: one per sender process."""


class Broker(Protocol):
    """A durable queue broker with publisher confirms and manual acks (one connection)."""

    async def declare(self, queue: str) -> None:
        """Create ``queue`` (durable), its dead-letter queue ``<queue>.dead`` and its delay queue
        ``<queue>.retry`` if missing."""

    async def exists(self, queue: str) -> bool:
        """Whether the broker has ``queue`` now (without declaring it)."""

    async def reconnect(self) -> None:
        """Replace a lost connection with a new one; consumers must be started again.

        Deliveries made on the old connection can no longer be settled: ``ack`` and
        ``requeue`` ignore their tags, since the broker has requeued them already.
        """

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> list[bool]:
        """Publish persistently, all in flight at once; say per message whether the broker confirmed it."""

    async def consume(self, queue: str, prefetch: int, sink: trio.MemorySendChannel[Delivery]) -> str:
        """Start delivering to ``sink`` (buffer >= ``prefetch``) with manual acks; return the consumer tag."""

    async def cancel(self, consumer_tag: str) -> None:
        """Stop new deliveries to that consumer; deliveries already made stay to be settled."""

    async def ack(self, tags: Sequence[int]) -> None:
        """Acknowledge deliveries, all in one go."""

    async def requeue(self, tags: Sequence[int]) -> None:
        """Give deliveries back to the queue unprocessed, for any consumer to take."""

    async def retry_later(self, queue: str, retries: Sequence[Retry]) -> None:
        """Publish, confirmed, to the delay queue ``<queue>.retry``, from which each returns to ``queue``
        after its delay, carrying its attempt number."""

    async def dead_letter(self, queue: str, letters: Sequence[DeadLetter]) -> None:
        """Publish, confirmed, to ``<queue>.dead`` with each reason in the ``x-smstrio-reason`` header."""

    async def dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` messages of ``<queue>.dead``, oldest first, leaving them there."""

    async def requeue_dead(self, queue: str, limit: int) -> int:
        """Move up to ``limit`` dead letters back to ``queue`` (published, confirmed, then removed)."""

    async def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue`` plus those waiting in ``<queue>.retry``, as the broker counts them."""

    async def queue_info(self, queue: str) -> QueueInfo:
        """The depth of ``queue`` (as :meth:`queue_depth`) and its consumer count, in one question."""

    async def watch(self) -> NoReturn:
        """Return never; raise :class:`~smstrio.core.errors.BrokerError` when the connection is lost."""

    async def aclose(self) -> None:
        """Close the connection; the broker requeues whatever was not acknowledged."""


class StatsStore(Protocol):
    """Atomic statistics of one queue, shared by every process working on it."""

    async def record(self, records: Sequence[OutcomeRecord]) -> Counted:
        """Count each outcome once, atomically for the whole batch; say what was newly counted."""

    async def add_produced(self, run: str, seqs: Sequence[int]) -> int:
        """Count these broker-confirmed messages of ``run`` in ``produced``, each once; return how many were new.

        ``record`` also counts a delivered message as produced (the broker had it), so
        ``produced`` never falls behind the outcomes, even if a producer dies between a
        confirm and this call.
        """

    async def heartbeat(self, info: SenderInfo, ttl: float) -> None:
        """Announce a live sender; it disappears ``ttl`` seconds after its last heartbeat."""

    async def forget_sender(self, sender_id: str) -> None:
        """Remove a sender that stopped cleanly."""

    async def view(self) -> StoreView:
        """Totals, recent per-second counts and live senders."""

    async def ledger(self, shown: int) -> list[RunLedger]:
        """Per producer run, ordered by run id: messages counted as produced and as done, with the
        first ``shown`` seqs produced and not done."""

    async def reset(self) -> int:
        """Delete this queue's statistics; return how many keys went."""

    async def ping(self) -> None:
        """Raise :class:`~smstrio.core.errors.StoreError` unless the store answers."""

    async def aclose(self) -> None:
        """Release connections."""


class FleetLimiter(Protocol):
    """One throughput limit shared by every sender of a queue (GCRA, see :mod:`smstrio.core.ratelimit`)."""

    async def reserve_slots(self, want: int, limit: Gcra, horizon_us: int) -> Grant:
        """Take up to ``want`` of the queue's next slots under ``limit`` in one atomic step, only those due
        within ``horizon_us`` but at least one; the grant's delays count from when the store answered."""


class Gateway(Protocol):
    """Where an SMS is sent: the simulated gateway, or a real one such as an HTTP SMS API."""

    async def send(self, sms: Sms) -> bool:
        """Send one SMS; say whether it was delivered, or raise :class:`~smstrio.core.errors.GatewayError`
        (not delivered, maybe with the wait the gateway asked for before a retry)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Whatever the gateway keeps running while a sender uses it; the sender starts it and cancels it.

        Raising before ``task_status.started()`` (say, the gateway is unreachable) stops the sender."""
