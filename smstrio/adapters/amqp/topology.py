"""What smstrio declares on RabbitMQ, and the coroutines that run on the asyncio side of the bridge.

Topology per queue ``Q``: a durable queue ``Q`` whose dead letters go through the
direct exchange ``smstrio.dead-letter`` to the durable queue ``Q.dead``, and ``Q.retry``,
where failed attempts wait out their delay before they are dead-lettered back to ``Q``.
Every coroutine below is one crossing of the bridge, called by :class:`~smstrio.adapters.amqp.AmqpBroker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import Sequence
from typing import Any

import aiormq
from pamqp import commands as spec
from pamqp.common import Arguments, FieldTable

from smstrio.adapters.amqp.frames import Publication, publish_batch
from smstrio.core.errors import BrokerError
from smstrio.ports import ATTEMPT_HEADER, DEAD_REASON_CHARS, DeadLetter, Outgoing, QueueInfo, Retry

DEAD_LETTER_EXCHANGE = "smstrio.dead-letter"
REASON_HEADER = "x-smstrio-reason"
ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)
"""What aiormq raises when the broker or the connection fails; the broker turns them into :class:`BrokerError`."""

QUORUM_DELIVERY_LIMIT = 50
"""Deliveries of one message a quorum queue allows before it dead-letters the message to ``<queue>.dead``
(set explicitly: RabbitMQ 3.x has no limit by default, 4.x a limit of 20)."""


class _Connection(aiormq.Connection):
    """aiormq's connection, dropped once nothing came for two heartbeat intervals and a bit
    (``(heartbeat + 1) * 2`` seconds, checked every ``heartbeat / 2``) instead of three: with
    the default 10 s heartbeat a silent connection is noticed within 22-27 s instead of 33-38 s."""

    HEARTBEAT_GRACE_MULTIPLIER = 2


async def connect(url: str, name: str, context: ssl.SSLContext | None) -> aiormq.abc.AbstractConnection:
    connection = _Connection(url, client_properties={"connection_name": name}, context=context)
    await connection.connect()
    return connection


async def exists(connection: aiormq.abc.AbstractConnection, queue: str) -> bool:
    # A passive declare of a missing queue closes its channel (NOT_FOUND): on a channel of its own.
    channel = await connection.channel()
    try:
        await channel.queue_declare(queue, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return False
    finally:
        with contextlib.suppress(*ERRORS):
            await channel.close()
    return True


def queue_arguments(queue: str, queue_type: str = "classic") -> Arguments:
    """The arguments ``queue`` is declared with; every declaration must repeat them exactly."""
    arguments: FieldTable = {"x-dead-letter-exchange": DEAD_LETTER_EXCHANGE, "x-dead-letter-routing-key": queue}
    if queue_type == "quorum":
        arguments |= {"x-queue-type": "quorum", "x-delivery-limit": QUORUM_DELIVERY_LIMIT}
    return arguments


def retry_queue_arguments(queue: str, queue_type: str = "classic") -> Arguments:
    """``<queue>.retry`` holds each message until its expiration, then dead-letters it back to ``queue``.

    Beside a quorum queue it is a quorum queue too (RabbitMQ 3.10 and later expire their messages), as is
    ``<queue>.dead``: a classic queue lives on one node, and once that node is down declaring it fails.
    """
    arguments: FieldTable = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue}
    return arguments | _typed(queue_type)


def dead_queue_arguments(queue_type: str = "classic") -> Arguments:
    """``<queue>.dead``: no arguments, but its type beside a quorum queue (see :func:`retry_queue_arguments`)."""
    return _typed(queue_type) or None


def _typed(queue_type: str) -> FieldTable:
    return {"x-queue-type": "quorum"} if queue_type == "quorum" else {}


async def declare(channel: aiormq.abc.AbstractChannel, queue: str, queue_type: str) -> None:
    await channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="direct", durable=True)
    await channel.queue_declare(f"{queue}.dead", durable=True, arguments=dead_queue_arguments(queue_type))
    await channel.queue_declare(f"{queue}.retry", durable=True, arguments=retry_queue_arguments(queue, queue_type))
    await channel.queue_bind(f"{queue}.dead", DEAD_LETTER_EXCHANGE, routing_key=queue)
    await channel.queue_declare(queue, durable=True, arguments=queue_arguments(queue, queue_type))


async def delete(channel: aiormq.abc.AbstractChannel, queue: str) -> None:
    for name in (queue, f"{queue}.retry", f"{queue}.dead"):
        await channel.queue_delete(name)


async def publish_all(channel: aiormq.abc.AbstractChannel, queue: str, messages: Sequence[Outgoing]) -> list[bool]:
    properties = functools.partial(spec.Basic.Properties, delivery_mode=2, content_type="application/json")
    # Mandatory: a message no queue takes (the queue was deleted, or lost by a node) comes back unconfirmed,
    # so the producer publishes it again after a reconnect, which finds the queue gone and says so.
    results = await publish_batch(
        channel, [Publication(queue, m.body, properties(message_id=m.message_id), mandatory=True) for m in messages]
    )
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, ERRORS):
            raise r
    if channel.is_closed:
        raise BrokerError("the publishing channel closed")
    return [isinstance(r, spec.Basic.Ack) for r in results]


async def consume(
    channel: aiormq.abc.AbstractChannel, queue: str, prefetch: int, callback: Any
) -> spec.Basic.ConsumeOk:
    await channel.basic_qos(prefetch_count=prefetch)
    return await channel.basic_consume(queue, callback, no_ack=False)


async def peek_dead(connection: aiormq.abc.AbstractConnection, queue: str, limit: int) -> list[DeadLetter]:
    # Read without acking on a channel of its own; closing it puts them all back, in order.
    channel = await connection.channel()
    letters = []
    try:
        for _ in range(limit):
            message = await channel.basic_get(f"{queue}.dead", no_ack=False)
            if not isinstance(message.delivery, spec.Basic.GetOk):
                break
            headers = message.header.properties.headers or {}
            letters.append(
                DeadLetter(message.body, message.header.properties.message_id, str(headers.get(REASON_HEADER, "")))
            )
    finally:
        await channel.close()
    return letters


async def requeue_dead(
    consume: aiormq.abc.AbstractChannel, publish: aiormq.abc.AbstractChannel, queue: str, limit: int
) -> int:
    moved = 0
    while moved < limit:
        message = await consume.basic_get(f"{queue}.dead", no_ack=False)
        if not isinstance(message.delivery, spec.Basic.GetOk):
            break
        properties = spec.Basic.Properties(
            delivery_mode=2,
            message_id=message.header.properties.message_id,
            content_type=message.header.properties.content_type,
        )
        confirm = await publish.basic_publish(message.body, routing_key=queue, properties=properties)
        if not isinstance(confirm, spec.Basic.Ack):
            await consume.basic_nack(message.delivery.delivery_tag or 0, requeue=True)
            raise BrokerError("the broker did not confirm a requeued dead letter")
        await consume.basic_ack(message.delivery.delivery_tag or 0)
        moved += 1
    return moved


async def info(channel: aiormq.abc.AbstractChannel, queue: str, queue_type: str) -> QueueInfo:
    ready = await channel.queue_declare(queue, durable=True, arguments=queue_arguments(queue, queue_type))
    waiting = await channel.queue_declare(
        f"{queue}.retry", durable=True, arguments=retry_queue_arguments(queue, queue_type)
    )
    return QueueInfo(
        depth=(ready.message_count or 0) + (waiting.message_count or 0), consumers=ready.consumer_count or 0
    )


async def retry_all(channel: aiormq.abc.AbstractChannel, queue: str, retries: Sequence[Retry]) -> list[bool]:
    results = await publish_batch(
        channel,
        [
            Publication(
                f"{queue}.retry",
                r.body,
                spec.Basic.Properties(
                    delivery_mode=2,
                    message_id=r.message_id,
                    expiration=str(max(0, round(r.delay_s * 1000))),
                    headers={ATTEMPT_HEADER: r.attempt},
                ),
            )
            for r in retries
        ],
    )
    return [isinstance(r, spec.Basic.Ack) for r in results]


async def dead_letter_all(channel: aiormq.abc.AbstractChannel, queue: str, letters: Sequence[DeadLetter]) -> list[bool]:
    results = await publish_batch(
        channel,
        [
            Publication(
                queue,
                x.body,
                spec.Basic.Properties(
                    delivery_mode=2, headers={REASON_HEADER: x.reason[:DEAD_REASON_CHARS]}, message_id=x.message_id
                ),
                exchange=DEAD_LETTER_EXCHANGE,
            )
            for x in letters
        ],
    )
    return [isinstance(r, spec.Basic.Ack) for r in results]
