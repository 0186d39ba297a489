"""Many AMQP frames in one write: ``basic_publish``, ``basic_ack`` and ``basic_nack`` widened to batches.

aiormq's ``Channel.basic_publish`` does, per message: take the channel lock inside two
context managers, number the message, register a confirmation future, marshal three
frames, queue them for the writer task, and (by default) wait until the writer wrote
them, still holding the lock. Publishing a window of 1,000 messages therefore costs
1,000 asyncio tasks and several loop passes per message; profiling showed this, not
the broker, bounding the producer.

:func:`publish_batch` does the same steps once per batch: one lock, one marshalled
payload for every frame of every message, one item on the writer's queue (so one
socket write), then one confirmation future per message, settled by aiormq's own
confirm handling (``Basic.Ack``, ``Basic.Nack``, ``multiple``) and rejected by aiormq
when the channel closes. The ``Basic.Publish`` method frame is the same for every
message to one exchange and routing key, so it is marshalled once.

Cancelling is not rolling back, but numbering must stay in step with the broker's: as
in aiormq's ``basic_publish``, a batch cancelled (or failing) before its frames are on
the writer's queue sends nothing and gives its delivery tags and confirmations back;
once queued, its frames reach the broker whatever becomes of the caller, so its
confirmations stay registered until the broker settles them.

Acks and nacks have the same shape: aiormq writes each as its own item, one socket
write per message (15% of a 10,000-worker sender's time). :func:`settle_batch` writes
a whole batch of them at once.

It uses aiormq's channel internals (``delivery_tag``, ``confirmations``,
``write_queue``, ``create_future``, ``_split_body``), so it is pinned: under any aiormq
but 7.2.x both fall back to aiormq's public methods, one call per message without
waiting for the write (``wait=False``), which is slower but equivalent; the first
fallback in a process logs a warning naming the installed version and the pinned
series. Upstream, the bodies would be ``Channel.basic_publish_batch`` and
``Channel.basic_ack_batch``.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import aiormq
from pamqp import commands as spec
from pamqp.frame import marshal
from pamqp.header import ContentHeader

from smstrio.core.logs import event

log = logging.getLogger(__name__)

SUPPORTED_SERIES: Final = (7, 2)
"""The aiormq release series whose channel internals this module was written against."""


def supports(version: str) -> bool:
    """Whether aiormq ``version`` belongs to :data:`SUPPORTED_SERIES`."""
    try:
        return tuple(int(part) for part in version.split(".")[:2]) == SUPPORTED_SERIES
    except ValueError:
        return False


AIORMQ_VERSION: Final = importlib.metadata.version("aiormq")
SUPPORTED: Final = supports(AIORMQ_VERSION)
"""Whether the installed aiormq takes the batched path (checked once, at import)."""


def _batched(batched: bool | None) -> bool:
    """``batched`` when given, else :data:`SUPPORTED`; falling back for that reason logs a warning once."""
    if batched is not None:
        return batched
    if not SUPPORTED:
        _warn_unsupported()
    return SUPPORTED


@functools.cache
def _warn_unsupported() -> None:
    event(
        log,
        "aiormq version not supported by the batched frames; using aiormq's calls, one per message",
        level=logging.WARNING,
        version=AIORMQ_VERSION,
        supported=".".join(map(str, SUPPORTED_SERIES)) + ".x",
    )


@dataclass(frozen=True, slots=True)
class Publication:
    """One message to publish: where to, its body and its AMQP properties."""

    routing_key: str
    body: bytes
    properties: spec.Basic.Properties
    exchange: str = ""
    mandatory: bool = False
    """Return the message if no queue takes it (its outcome is then aiormq's ``PublishError``, not an ack):
    needs a ``message_id``, by which aiormq finds the message a return is for."""


async def publish_batch(
    channel: aiormq.abc.AbstractChannel, publications: Sequence[Publication], *, batched: bool | None = None
) -> list[BaseException | spec.Basic.Ack | Any]:
    """Publish every message on ``channel`` (in confirm mode); return each one's outcome, in order.

    An outcome is ``Basic.Ack`` when the broker confirmed the message, else what the
    confirmation ended with (a ``DeliveryError`` for a nack, the channel's error when it
    closed). ``batched=False`` takes aiormq's public path, one ``basic_publish`` each;
    by default the batched path is taken under the aiormq series it was written for.
    Cancelled on the batched path, the batch was either not sent at all or sent whole (see
    the module's docstring); on aiormq's path, the same holds per message.
    """
    if not publications:
        return []
    concrete = cast(aiormq.Channel, channel)
    if not _batched(batched):
        return await asyncio.gather(
            *(
                concrete.basic_publish(
                    p.body,
                    exchange=p.exchange,
                    routing_key=p.routing_key,
                    properties=p.properties,
                    mandatory=p.mandatory,
                    wait=False,
                )
                for p in publications
            ),
            return_exceptions=True,
        )
    if not concrete.publisher_confirms:
        raise ValueError("publish_batch needs a channel in confirm mode")
    async with concrete.lock:
        payload = _publish_frames(concrete, publications)
        # Number the messages as the broker will, then hand the frames to the writer.
        last_sent = concrete.delivery_tag
        confirmations: list[asyncio.Future[Any]] = [concrete.create_future() for _ in publications]
        concrete.confirmations.update(enumerate(confirmations, start=last_sent + 1))
        concrete.delivery_tag += len(publications)
        returnable = _map_returnable(concrete, publications, confirmations, last_sent)
        try:
            # asyncio.Queue.put either queues the frames and returns, or raises having queued nothing.
            await concrete.write_queue.put(aiormq.abc.ChannelFrame(payload=payload, should_close=False))
        except BaseException:
            # Cancelled (or failed) before the writer had the frames: the broker will never number these
            # messages, so give their numbers back while holding the lock, as aiormq's basic_publish does.
            for tag in range(last_sent + 1, concrete.delivery_tag + 1):
                concrete.confirmations.pop(tag, None)
            for message_id, tag in returnable:
                _forget(concrete, message_id, tag)
            concrete.delivery_tag = last_sent
            for confirmation in confirmations:
                confirmation.cancel()
            raise
    # Queued frames reach the broker even if this wait is cancelled, so their confirmations stay registered.
    return await asyncio.gather(*confirmations, return_exceptions=True)


def _map_returnable(
    channel: aiormq.Channel,
    publications: Sequence[Publication],
    confirmations: Sequence[asyncio.Future[Any]],
    last_sent: int,
) -> list[tuple[str, int]]:
    """Register each mandatory message's id with its delivery tag, as aiormq's ``basic_publish`` does, so that
    a return settles its confirmation; each is forgotten once settled. Returns the (id, tag) pairs."""
    pairs = []
    for tag, (p, confirmation) in enumerate(zip(publications, confirmations, strict=True), start=last_sent + 1):
        message_id = p.properties.message_id
        if p.mandatory and message_id is not None:
            channel.message_id_delivery_tag[message_id] = tag
            confirmation.add_done_callback(functools.partial(_forget_settled, channel, message_id, tag))
            pairs.append((message_id, tag))
    return pairs


def _forget_settled(channel: aiormq.Channel, message_id: str, tag: int, _: asyncio.Future[Any]) -> None:
    _forget(channel, message_id, tag)


def _forget(channel: aiormq.Channel, message_id: str, tag: int) -> None:
    if channel.message_id_delivery_tag.get(message_id) == tag:
        del channel.message_id_delivery_tag[message_id]


def _publish_frames(channel: aiormq.Channel, publications: Sequence[Publication]) -> bytes:
    """Every frame of every message, marshalled for ``channel`` in one payload."""
    number = channel.number
    methods: dict[tuple[str, str, bool], bytes] = {}
    parts: list[bytes] = []
    for p in publications:
        method = methods.get((p.exchange, p.routing_key, p.mandatory))
        if method is None:
            publish = spec.Basic.Publish(exchange=p.exchange, routing_key=p.routing_key, mandatory=p.mandatory)
            method = methods[p.exchange, p.routing_key, p.mandatory] = marshal(publish, number)
        parts.append(method)
        parts.append(marshal(ContentHeader(properties=p.properties, body_size=len(p.body)), number))
        parts.extend(marshal(frame, number) for frame in channel._split_body(p.body))
    return b"".join(parts)


async def settle_batch(
    channel: aiormq.abc.AbstractChannel,
    tags: Sequence[int],
    *,
    requeue: bool | None = None,
    batched: bool | None = None,
) -> None:
    """Acknowledge every delivery in ``tags`` (``requeue=None``), or reject them with or without requeueing.

    Nothing is awaited from the broker: acks and nacks have no reply. ``batched`` as for :func:`publish_batch`.
    """
    if not tags:
        return
    concrete = cast(aiormq.Channel, channel)
    if not _batched(batched):
        for tag in tags:
            if requeue is None:
                await concrete.basic_ack(tag, wait=False)
            else:
                await concrete.basic_nack(tag, requeue=requeue, wait=False)
        return
    if concrete.is_closed:
        raise aiormq.exceptions.ChannelInvalidStateError(f"{concrete!r} closed")
    number = concrete.number
    methods = (
        (spec.Basic.Ack(delivery_tag=tag) for tag in tags)
        if requeue is None
        else (spec.Basic.Nack(delivery_tag=tag, requeue=requeue) for tag in tags)
    )
    payload = b"".join(marshal(method, number) for method in methods)
    await concrete.write_queue.put(aiormq.abc.ChannelFrame(payload=payload, should_close=False))
