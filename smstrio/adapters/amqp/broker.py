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
import random
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

import aiormq
import trio
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec

from smstrio.adapters.amqp import topology
from smstrio.adapters.amqp.delivery import deliver_directly
from smstrio.adapters.amqp.frames import settle_batch
from smstrio.adapters.bridge import cross
from smstrio.adapters.tls import client_context
from smstrio.core.config import DEFAULT_AMQP_HEARTBEAT
from smstrio.core.errors import BrokerError
from smstrio.core.logs import event
from smstrio.core.urls import TlsFiles, redact, split_urls
from smstrio.ports import ATTEMPT_HEADER, DeadLetter, Delivery, Outgoing, QueueInfo, Retry

log = logging.getLogger(__name__)

_GENERATION_SHIFT = 40
_TAG_MASK = (1 << _GENERATION_SHIFT) - 1


NODE_CONNECT_TIMEOUT_S = 5.0
"""How long one node of a list may take to answer before the next is tried."""


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def with_heartbeat(url: str, seconds: int) -> str:
    """``url`` asking for a heartbeat every ``seconds`` (0: none), unless it names its own ``heartbeat=``."""
    parts = urlsplit(url)
    if any(p.partition("=")[0] == "heartbeat" for p in parts.query.split("&")):
        return url
    query = f"{parts.query}&heartbeat={seconds}" if parts.query else f"heartbeat={seconds}"
    return parts._replace(query=query).geturl()


class AmqpBroker:
    """A :class:`~smstrio.ports.Broker` on one AMQP connection, which :meth:`reconnect` replaces.

    ``url`` may name several nodes of a cluster, separated by commas: they are tried in a
    shuffled order (so that processes spread over them) until one answers, and a reconnect
    starts with the node after the one that was lost.

    Delivery tags handed out are opaque: the connection's generation sits above bit 40,
    so a tag from a connection that is gone is recognised and not settled (the broker
    already requeued that delivery).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        tls: TlsFiles | None = None,
        queue_type: str = "classic",
        heartbeat: int = DEFAULT_AMQP_HEARTBEAT,
        rng: random.Random | None = None,
    ) -> None:
        nodes = list(split_urls(url))
        (rng or random.Random()).shuffle(nodes)
        self._nodes = [with_heartbeat(node, heartbeat) for node in nodes]
        self._shown = [redact(node) for node in nodes]
        self._next = 0
        """The index in ``_nodes`` of the node to try next."""
        self._url = self._shown[0]
        """The node connected to (or tried last), redacted, for messages."""
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

    @property
    def node(self) -> str:
        """The node connected to (or tried last), its password redacted."""
        return self._url

    async def reconnect(self) -> None:
        """Connect again, to the node after the one lost first, then to the others in turn."""
        await self._close_connection()
        await self._open()

    async def _open(self) -> None:
        """Connect to the first node that answers, starting at ``_next``."""
        failures = []
        for _ in self._nodes:
            index, self._next = self._next, (self._next + 1) % len(self._nodes)
            self._url = self._shown[index]
            try:
                with trio.fail_after(NODE_CONNECT_TIMEOUT_S if len(self._nodes) > 1 else float("inf")):
                    connection = await cross(topology.connect, self._nodes[index], self._name, self._tls)
            except (*topology.ERRORS, trio.TooSlowError) as exc:
                failures.append(f"{self._url}: {_describe(exc) if isinstance(exc, topology.ERRORS) else 'timed out'}")
                continue
            self._next = (index + 1) % len(self._nodes)
            await self._open_channels(connection)
            if len(self._nodes) > 1:
                event(log, "connected to a broker node", node=self._url, failed=len(failures))
            return
        if len(failures) == 1:
            raise BrokerError(f"cannot connect to RabbitMQ at {failures[0]}")
        raise BrokerError(f"cannot connect to any of {len(failures)} RabbitMQ nodes: {'; '.join(failures)}")

    async def _open_channels(self, connection: aiormq.abc.AbstractConnection) -> None:
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
        on_closed = functools.partial(self._on_closed, self._generation, connection)
        for closing in (connection.closing, self._consume_channel.closing, self._publish_channel.closing):
            closing.add_done_callback(on_closed)
        self._consume_channel.on_consumer_cancel_callbacks.add(
            functools.partial(self._on_consumer_cancelled, self._generation)
        )

    def _on_closed(
        self, generation: int, connection: aiormq.abc.AbstractConnection, future: asyncio.Future[Any]
    ) -> None:
        # Runs as an asyncio callback: only synchronous Trio calls are allowed here.
        if generation != self._generation:
            return
        exc = None if future.cancelled() else future.exception()
        if getattr(connection, "is_connection_was_stuck", False):
            self._lose("the connection went silent (no frame, not even a heartbeat, for two heartbeat intervals)")
        else:
            self._lose(self._lost_reason if exc is None else _describe(exc))

    def _on_consumer_cancelled(self, generation: int, frame: spec.Basic.Cancel) -> None:
        # An asyncio callback, as _on_closed. The broker cancels a consumer whose queue was
        # deleted (or lost): taken as a lost connection, so that the reconnect finds the queue gone.
        if generation == self._generation:
            self._lose(f"the broker cancelled consumer {frame.consumer_tag} (its queue was deleted?)")

    def _lose(self, reason: str) -> None:
        """The connection is lost (synchronous: called from asyncio callbacks): wake the watchers and the calls."""
        self._lost_reason = reason
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
