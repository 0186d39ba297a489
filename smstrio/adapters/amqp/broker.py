"""The broker over RabbitMQ, with aiormq under trio-asyncio: the Trio side.

Messages are published persistent (``delivery_mode=2``) with publisher confirms, with
the stable message id as the AMQP ``message_id``. One channel consumes and acks; a
second, in confirm mode, publishes. The queues and the coroutines each call runs on
the asyncio side are in :mod:`smstrio.adapters.amqp.topology`; the connection (its nodes,
channels and loss) in :mod:`smstrio.adapters.amqp.connection`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from smstrio.adapters.amqp import topology
from smstrio.adapters.amqp.connection import AmqpConnection
from smstrio.adapters.amqp.frames import settle_batch
from smstrio.core.config import DEFAULT_AMQP_HEARTBEAT
from smstrio.core.errors import BrokerError
from smstrio.core.logs import event
from smstrio.core.urls import TlsFiles
from smstrio.ports import ATTEMPT_HEADER, DeadLetter, Delivery, Outgoing, QueueInfo, Retry

log = logging.getLogger(__name__)


class AmqpBroker(AmqpConnection):
    """A :class:`~smstrio.ports.Broker` on one AMQP connection, which :meth:`reconnect` replaces.

    ``url`` may name several nodes of a cluster, separated by commas: they are tried in a
    shuffled order (so that processes spread over them) until one answers, and a reconnect
    starts with the node after the one that was lost.

    Delivery tags handed out are opaque: the connection's generation sits above bit 40,
    so a tag from a connection that is gone is recognised and not settled (the broker
    already requeued that delivery).
    """

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        name: str = "smstrio",
        tls: TlsFiles | None = None,
        queue_type: str = "classic",
        heartbeat: int = DEFAULT_AMQP_HEARTBEAT,
    ) -> AmqpBroker:
        """Connect and open the channels; raise :class:`BrokerError` saying why not.

        ``url``: one node, or several separated by commas (the first that answers, in a shuffled order).
        ``tls``: the CA, client certificate and key for an ``amqps://`` URL (else the system's CAs).
        ``queue_type``: ``classic`` or ``quorum``, how :meth:`declare` declares the queue.
        ``heartbeat``: seconds between heartbeats, unless the URL names its own ``heartbeat=``.
        """
        broker = cls(url, name=name, tls=tls, queue_type=queue_type, heartbeat=heartbeat)
        await broker._open()
        return broker

    async def declare(self, queue: str) -> None:
        consume, _ = self._channels()
        await self._call("declare the queues", topology.declare, consume, queue, self._queue_type)

    async def exists(self, queue: str) -> bool:
        if self._connection is None:
            raise BrokerError(f"RabbitMQ at {self._url}: not connected")
        found: bool = await self._call("look for the queue", topology.exists, self._connection, queue)
        return found

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> list[bool]:
        _, publish = self._channels()
        flags: list[bool] = await self._call("publish", topology.publish_all, publish, queue, messages)
        return flags

    async def consume(self, queue: str, prefetch: int, sink: trio.MemorySendChannel[Delivery]) -> str:
        consume, _ = self._channels()

        def deliver(message: DeliveredMessage) -> None:
            # Called in aiormq's channel reader (see delivery.py): one send_nowait and
            # nothing that awaits Trio or raises. The sink's buffer is at least the
            # prefetch, so it is never full while the broker respects the prefetch; once
            # the sink is closed (shutdown), the message stays unacknowledged and the
            # broker requeues it when we disconnect.
            assert isinstance(message.delivery, spec.Basic.Deliver)
            headers = message.header.properties.headers or {}
            attempt = headers.get(ATTEMPT_HEADER, 1)
            delivery = Delivery(
                tag=self._tag(message.delivery.delivery_tag or 0),
                body=message.body,
                message_id=message.header.properties.message_id,
                redelivered=bool(message.delivery.redelivered),
                attempt=attempt if isinstance(attempt, int) and attempt > 0 else 1,
            )
            try:
                sink.send_nowait(delivery)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                pass
            except trio.WouldBlock:
                event(log, "delivery beyond prefetch left unacked", level=logging.WARNING, tag=delivery.tag)

        ok = await self._call("consume", topology.consume, consume, queue, prefetch, deliver)
        tag: str = ok.consumer_tag
        return tag

    async def cancel(self, consumer_tag: str) -> None:
        consume, _ = self._channels()
        await self._call("cancel the consumer", consume.basic_cancel, consumer_tag)

    async def ack(self, tags: Sequence[int]) -> None:
        consume, _ = self._channels()
        await self._call("acknowledge", settle_batch, consume, self._current(tags))

    async def requeue(self, tags: Sequence[int]) -> None:
        consume, _ = self._channels()
        await self._call("requeue", settle_batch, consume, self._current(tags), requeue=True)

    async def retry_later(self, queue: str, retries: Sequence[Retry]) -> None:
        _, publish = self._channels()
        flags = await self._call("publish retries", topology.retry_all, publish, queue, retries)
        if not all(flags):
            raise BrokerError(f"RabbitMQ at {self._url} did not confirm {flags.count(False)} retries")

    async def dead_letter(self, queue: str, letters: Sequence[DeadLetter]) -> None:
        _, publish = self._channels()
        flags = await self._call("dead-letter", topology.dead_letter_all, publish, queue, letters)
        if not all(flags):
            raise BrokerError(f"RabbitMQ at {self._url} did not confirm {flags.count(False)} dead letters")

    async def dead_letters(self, queue: str, limit: int) -> list[DeadLetter]:
        if self._connection is None:
            raise BrokerError(f"RabbitMQ at {self._url}: not connected")
        letters: list[DeadLetter] = await self._call(
            "read dead letters", topology.peek_dead, self._connection, queue, limit
        )
        return letters

    async def requeue_dead(self, queue: str, limit: int) -> int:
        consume, publish = self._channels()
        moved: int = await self._call("requeue dead letters", topology.requeue_dead, consume, publish, queue, limit)
        return moved

    async def queue_depth(self, queue: str) -> int:
        return (await self.queue_info(queue)).depth

    async def queue_info(self, queue: str) -> QueueInfo:
        consume, _ = self._channels()
        info: QueueInfo = await self._call("count the queue", topology.info, consume, queue, self._queue_type)
        return info

    async def delete(self, queue: str) -> None:
        """Delete ``queue`` with its ``.retry`` and ``.dead`` queues, messages and all (``smstrio bench`` cleans up)."""
        consume, _ = self._channels()
        await self._call("delete the queues", topology.delete, consume, queue)
