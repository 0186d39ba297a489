"""The broker over RabbitMQ, with aiormq under trio-asyncio: the Trio side.

Messages are published persistent (``delivery_mode=2``) with publisher confirms, with
the stable message id as the AMQP ``message_id``. One channel consumes and acks; a
second, in confirm mode, publishes. The queues and the coroutines each call runs on
the asyncio side are in :mod:`smstrio.adapters.amqp.topology`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from typing import Any, NoReturn

import aiormq
import trio
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from smstrio.adapters.amqp import topology
from smstrio.adapters.amqp.delivery import deliver_directly
from smstrio.adapters.amqp.frames import settle_batch
from smstrio.adapters.bridge import cross
from smstrio.adapters.tls import client_context
from smstrio.core.config import TlsFiles, redact
from smstrio.core.errors import BrokerError
from smstrio.core.logs import event
from smstrio.ports import ATTEMPT_HEADER, DeadLetter, Delivery, Outgoing, QueueInfo, Retry

log = logging.getLogger(__name__)

_GENERATION_SHIFT = 40
_TAG_MASK = (1 << _GENERATION_SHIFT) - 1


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


class AmqpBroker:
    """A :class:`~smstrio.ports.Broker` on one AMQP connection, which :meth:`reconnect` replaces.

    Delivery tags handed out are opaque: the connection's generation sits above bit 40,
    so a tag from a connection that is gone is recognised and not settled (the broker
    already requeued that delivery).
    """

    def __init__(self, url: str, *, name: str, tls: TlsFiles | None = None, queue_type: str = "classic") -> None:
        self._url = redact(url)
        self._raw_url = url
        self._name = name
        self._tls = client_context(tls, "RabbitMQ") if tls is not None and tls.given else None
        self._queue_type = queue_type
        self._connection: aiormq.abc.AbstractConnection | None = None
        self._consume_channel: aiormq.abc.AbstractChannel | None = None
        self._publish_channel: aiormq.abc.AbstractChannel | None = None
        self._generation = 0
        self._lost = trio.Event()
        self._lost_reason = "connection closed"
        self._calls: set[trio.CancelScope] = set()

    @classmethod
    async def connect(
        cls, url: str, *, name: str = "smstrio", tls: TlsFiles | None = None, queue_type: str = "classic"
    ) -> AmqpBroker:
        """Connect and open the channels; raise :class:`BrokerError` saying why not.

        ``tls``: the CA, client certificate and key for an ``amqps://`` URL (else the system's CAs).
        ``queue_type``: ``classic`` or ``quorum``, how :meth:`declare` declares the queue.
        """
        broker = cls(url, name=name, tls=tls, queue_type=queue_type)
        await broker._open()
        return broker

    async def reconnect(self) -> None:
        await self._close_connection()
        await self._open()

    async def _open(self) -> None:
        try:
            connection = await cross(
                aiormq.connect, self._raw_url, client_properties={"connection_name": self._name}, context=self._tls
            )
        except topology.ERRORS as exc:
            raise BrokerError(f"cannot connect to RabbitMQ at {self._url}: {_describe(exc)}") from exc
        self._connection = connection
        try:
            self._consume_channel = await cross(connection.channel, publisher_confirms=False)
            deliver_directly(self._consume_channel)
            self._publish_channel = await cross(connection.channel, publisher_confirms=True)
        except topology.ERRORS as exc:
            await self._close_connection()
            raise BrokerError(f"cannot open a channel on RabbitMQ at {self._url}: {_describe(exc)}") from exc
        self._generation += 1
        self._lost = trio.Event()
        on_closed = functools.partial(self._on_closed, self._generation)
        for closing in (connection.closing, self._consume_channel.closing, self._publish_channel.closing):
            closing.add_done_callback(on_closed)

    def _on_closed(self, generation: int, future: asyncio.Future[Any]) -> None:
        # Runs as an asyncio callback: only synchronous Trio calls are allowed here.
        if generation != self._generation:
            return
        if not future.cancelled() and future.exception() is not None:
            self._lost_reason = _describe(future.exception())  # type: ignore[arg-type]
        self._lost.set()
        for scope in self._calls:
            scope.cancel()

    def _tag(self, delivery_tag: int) -> int:
        return self._generation << _GENERATION_SHIFT | delivery_tag

    def _current(self, tags: Sequence[int]) -> list[int]:
        """The AMQP delivery tags of those ``tags`` issued on the current connection."""
        return [t & _TAG_MASK for t in tags if t >> _GENERATION_SHIFT == self._generation]

    def _channels(self) -> tuple[aiormq.abc.AbstractChannel, aiormq.abc.AbstractChannel]:
        if self._consume_channel is None or self._publish_channel is None:
            raise BrokerError(f"RabbitMQ at {self._url}: not connected")
        return self._consume_channel, self._publish_channel

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One crossing, translated into :class:`BrokerError`; cancelled if the connection is lost meanwhile.

        aiormq can wait forever on a connection whose writer has died (a full write
        queue), so every call is tied to the connection it runs on.
        """
        if self._lost.is_set():
            raise BrokerError(f"lost the connection to RabbitMQ at {self._url}: {self._lost_reason}")
        with trio.CancelScope() as scope:
            self._calls.add(scope)
            try:
                return await cross(fn, *args, **kwargs)
            except aiormq.exceptions.ChannelPreconditionFailed as exc:
                raise BrokerError(
                    f"RabbitMQ at {self._url} refused to {what}: {_describe(exc)} "
                    "(a queue of that name exists with other settings: delete it, choose another --queue, "
                    "or give the --queue-type it was declared with)"
                ) from exc
            except topology.ERRORS as exc:
                raise BrokerError(f"RabbitMQ at {self._url} failed to {what}: {_describe(exc)}") from exc
            finally:
                self._calls.discard(scope)
        raise BrokerError(f"lost the connection to RabbitMQ at {self._url} while trying to {what}: {self._lost_reason}")

    async def declare(self, queue: str) -> None:
        consume, _ = self._channels()
        await self._call(
            "declare the queues", topology.declare, consume, queue, topology.queue_arguments(queue, self._queue_type)
        )

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
        info: QueueInfo = await self._call(
            "count the queue", topology.info, consume, queue, topology.queue_arguments(queue, self._queue_type)
        )
        return info

    async def delete(self, queue: str) -> None:
        """Delete ``queue`` with its ``.retry`` and ``.dead`` queues, messages and all (``smstrio bench`` cleans up)."""
        consume, _ = self._channels()
        await self._call("delete the queues", topology.delete, consume, queue)

    async def watch(self) -> NoReturn:
        await self._lost.wait()
        raise BrokerError(f"lost the connection to RabbitMQ at {self._url}: {self._lost_reason}")

    async def aclose(self) -> None:
        self._generation += 1  # what is still watching must not take our own close for a loss
        await self._close_connection()

    async def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._consume_channel = self._publish_channel = None
        if connection is None or connection.is_closed:
            return
        with trio.move_on_after(5, shield=True), contextlib.suppress(*topology.ERRORS):
            await cross(connection.close)
