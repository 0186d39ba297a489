"""Batched frames (``smstrio.adapters.amqp.frames``) against the real RabbitMQ, on both paths."""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import cast

import aiormq
import pytest
import trio
from pamqp import commands as spec

from smstrio.adapters.amqp import frames
from smstrio.adapters.amqp.frames import SUPPORTED, Publication, publish_batch, settle_batch, supports
from smstrio.adapters.bridge import cross

PATHS = [pytest.param(True, id="batched"), pytest.param(False, id="per-message")]


def test_supports_only_the_pinned_series() -> None:
    """Only aiormq 7.2.x takes the batched path; anything else, or garbage, falls back."""
    assert supports("7.2.4")
    assert supports("7.2.0rc1")
    assert not supports("7.3.0")
    assert not supports("8.0")
    assert not supports("nonsense")


def test_installed_aiormq_takes_the_batched_path() -> None:
    """The locked aiormq is the pinned series, so the fast path is the one in use."""
    assert SUPPORTED


async def _get(
    channel: aiormq.abc.AbstractChannel, queue: str, limit: int, *, no_ack: bool = True
) -> list[aiormq.abc.DeliveredMessage]:
    """Up to ``limit`` messages taken from ``queue`` one by one, stopping when it is empty."""

    async def get_all() -> list[aiormq.abc.DeliveredMessage]:
        got = []
        for _ in range(limit):
            message = await channel.basic_get(queue, no_ack=no_ack)
            if not isinstance(message.delivery, spec.Basic.GetOk):
                break
            got.append(message)
        return got

    return await cross(get_all)


@pytest.mark.services
@pytest.mark.parametrize("batched", PATHS)
async def test_every_message_arrives_whole_in_order_with_its_properties(
    channel: aiormq.abc.AbstractChannel, queue_name: str, batched: bool
) -> None:
    """Bodies (one larger than a frame), message ids, persistence and headers arrive as published, in order."""
    await cross(channel.queue_declare, queue_name, durable=True)
    big = bytes(range(256)) * 1024  # 256 KiB: split over several body frames
    bodies = [b"first", big, b"", *(f"m{i}".encode() for i in range(50))]
    publications = [
        Publication(
            queue_name,
            body,
            spec.Basic.Properties(delivery_mode=2, message_id=f"id-{i}", headers={"x-n": i}),
        )
        for i, body in enumerate(bodies)
    ]
    outcomes = await cross(publish_batch, channel, publications, batched=batched)
    assert all(isinstance(o, spec.Basic.Ack) for o in outcomes)
    got = await _get(channel, queue_name, len(bodies) + 1)
    assert [m.body for m in got] == bodies
    assert [m.header.properties.message_id for m in got] == [f"id-{i}" for i in range(len(bodies))]
    assert {m.header.properties.delivery_mode for m in got} == {2}
    assert [(m.header.properties.headers or {})["x-n"] for m in got] == list(range(len(bodies)))


@pytest.mark.services
@pytest.mark.parametrize("batched", PATHS)
async def test_refused_messages_are_reported_one_by_one(
    channel: aiormq.abc.AbstractChannel, queue_name: str, batched: bool
) -> None:
    """A queue that rejects publishes beyond 3 messages: the first 3 confirm, the other 4 come back refused."""
    await cross(channel.queue_declare, queue_name, arguments={"x-max-length": 3, "x-overflow": "reject-publish"})
    publications = [Publication(queue_name, f"m{i}".encode(), spec.Basic.Properties()) for i in range(7)]
    outcomes = await cross(publish_batch, channel, publications, batched=batched)
    assert [isinstance(o, spec.Basic.Ack) for o in outcomes] == [True] * 3 + [False] * 4
    assert all(isinstance(o, aiormq.exceptions.DeliveryError) for o in outcomes[3:])


@pytest.mark.services
async def test_an_empty_batch_writes_nothing(channel: aiormq.abc.AbstractChannel) -> None:
    """Publishing no message returns no outcome and leaves the channel usable."""
    assert await cross(publish_batch, channel, []) == []
    assert not channel.is_closed


@pytest.mark.services
@pytest.mark.parametrize("batched", PATHS)
async def test_acked_deliveries_are_gone_and_requeued_ones_come_back(
    channel: aiormq.abc.AbstractChannel, queue_name: str, batched: bool
) -> None:
    """Of 10 deliveries, the 4 acked leave the queue, the 3 requeued return and the 3 rejected are dropped."""
    await cross(channel.queue_declare, queue_name)
    publications = [Publication(queue_name, f"m{i}".encode(), spec.Basic.Properties()) for i in range(10)]
    await cross(publish_batch, channel, publications)
    taken = await _get(channel, queue_name, 10, no_ack=False)
    assert len(taken) == 10
    tags = [m.delivery_tag or 0 for m in taken]
    await cross(settle_batch, channel, tags[:4], batched=batched)
    await cross(settle_batch, channel, tags[4:7], requeue=True, batched=batched)
    await cross(settle_batch, channel, tags[7:], requeue=False, batched=batched)
    assert [m.body for m in await _get(channel, queue_name, 10)] == [b"m4", b"m5", b"m6"]
    assert not channel.is_closed


@pytest.mark.services
async def test_settling_on_a_closed_channel_raises(channel: aiormq.abc.AbstractChannel) -> None:
    """Acks on a closed channel fail loudly instead of vanishing into a dead writer."""
    await cross(channel.close)
    with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
        await cross(settle_batch, channel, [1])


class _UndrainedWriteQueue(asyncio.Queue[aiormq.abc.ChannelFrame]):
    """Stands in for the connection's write queue, which no writer drains: full, ``put`` waits for ever."""

    def __init__(self, *, full: bool) -> None:
        super().__init__(maxsize=1 if full else 0)
        if full:
            self.put_nowait(aiormq.abc.ChannelFrame(payload=b"", should_close=False))
        self.reached = trio.Event()
        self.queued = trio.Event()

    async def put(self, item: aiormq.abc.ChannelFrame) -> None:
        """Set ``reached``, queue ``item`` (waiting while full), then set ``queued``."""
        self.reached.set()
        await super().put(item)
        self.queued.set()


async def _cancel_when(
    channel: aiormq.abc.AbstractChannel, publications: list[Publication], reached: trio.Event
) -> None:
    """Publish ``publications`` on ``channel`` and cancel the publish as soon as ``reached`` is set."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cross, publish_batch, channel, publications)
        await reached.wait()
        nursery.cancel_scope.cancel()


def _batch(queue: str, name: str, count: int) -> list[Publication]:
    """``count`` messages for ``queue`` with message ids ``name-0``, ``name-1``, ..."""
    return [Publication(queue, b"m", spec.Basic.Properties(message_id=f"{name}-{i}")) for i in range(count)]


async def _declare_holding(channel: aiormq.abc.AbstractChannel, queue: str, length: int) -> None:
    """Declare ``queue`` to refuse publishes once it holds ``length`` messages: a nack then marks each refused one."""
    await cross(channel.queue_declare, queue, arguments={"x-max-length": length, "x-overflow": "reject-publish"})


async def _confirmed_next(channel: aiormq.abc.AbstractChannel, queue: str) -> list[bool]:
    """Publish 5 messages ``next-0`` to ``next-4``; which of them the broker confirmed, in order (10 s at most)."""
    with trio.fail_after(10):
        outcomes = await cross(publish_batch, channel, _batch(queue, "next", 5))
    return [isinstance(o, spec.Basic.Ack) for o in outcomes]


async def _ids(channel: aiormq.abc.AbstractChannel, queue: str) -> list[str | None]:
    """The message ids in ``queue``, in order (taking the messages)."""
    return [m.header.properties.message_id for m in await _get(channel, queue, 20)]


@pytest.mark.services
async def test_a_publish_cancelled_before_its_frames_are_queued_gives_its_numbers_back(
    channel: aiormq.abc.AbstractChannel, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch cancelled while waiting to queue its frames sends nothing; the next batch gets its own confirmations."""
    await _declare_holding(channel, queue_name, 2)
    stalled = _UndrainedWriteQueue(full=True)
    monkeypatch.setattr(channel, "write_queue", stalled)
    await _cancel_when(channel, _batch(queue_name, "cancelled", 3), stalled.reached)
    monkeypatch.undo()
    assert stalled.qsize() == 1  # only the filler: the cancelled batch's frames never joined the queue
    assert await _confirmed_next(channel, queue_name) == [True, True, False, False, False]
    assert await _ids(channel, queue_name) == ["next-0", "next-1"]


@pytest.mark.services
async def test_a_publish_cancelled_after_its_frames_are_queued_keeps_its_numbers(
    channel: aiormq.abc.AbstractChannel, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch cancelled once its frames are queued still reaches the broker; the next gets its own confirmations."""
    await _declare_holding(channel, queue_name, 5)
    writes = cast(aiormq.Channel, channel).write_queue
    held = _UndrainedWriteQueue(full=False)
    monkeypatch.setattr(channel, "write_queue", held)
    await _cancel_when(channel, _batch(queue_name, "cancelled", 3), held.queued)
    monkeypatch.undo()
    await cross(writes.put, held.get_nowait())  # the writer sends the queued frames after all
    assert await _confirmed_next(channel, queue_name) == [True, True, False, False, False]
    assert await _ids(channel, queue_name) == ["cancelled-0", "cancelled-1", "cancelled-2", "next-0", "next-1"]


@pytest.mark.services
async def test_a_batch_that_fails_to_encode_gives_its_numbers_back(
    channel: aiormq.abc.AbstractChannel, queue_name: str
) -> None:
    """A batch whose third message cannot be encoded raises, sends nothing; the next gets its own confirmations."""
    await _declare_holding(channel, queue_name, 2)
    broken = [*_batch(queue_name, "broken", 2), Publication(queue_name, b"m", spec.Basic.Properties(priority=1000))]
    with pytest.raises(struct.error):
        await cross(publish_batch, channel, broken)
    assert await _confirmed_next(channel, queue_name) == [True, True, False, False, False]
    assert await _ids(channel, queue_name) == ["next-0", "next-1"]


@pytest.mark.services
async def test_another_aiormq_series_falls_back_to_aiormq_calls_and_warns_once(
    channel: aiormq.abc.AbstractChannel,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under another aiormq series both calls take aiormq's path, with one warning per process naming both versions."""
    await cross(channel.queue_declare, queue_name)
    publications = _batch(queue_name, "m", 3)
    frames._warn_unsupported.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=frames.__name__):
            await cross(publish_batch, channel, publications, batched=False)  # chosen, not a fallback: no warning
            monkeypatch.setattr(frames, "AIORMQ_VERSION", "8.0.1")
            monkeypatch.setattr(frames, "SUPPORTED", supports("8.0.1"))
            outcomes = [await cross(publish_batch, channel, publications) for _ in range(2)]
            taken = await _get(channel, queue_name, 10, no_ack=False)
            await cross(settle_batch, channel, [m.delivery_tag or 0 for m in taken])
    finally:
        frames._warn_unsupported.cache_clear()
    [record] = [r for r in caplog.records if r.name == frames.__name__]
    assert record.levelno == logging.WARNING
    assert record.__dict__["fields"] == {"version": "8.0.1", "supported": "7.2.x"}
    assert [[isinstance(o, spec.Basic.Ack) for o in batch] for batch in outcomes] == [[True] * 3] * 2
    assert [m.header.properties.message_id for m in taken] == [f"m-{i}" for i in range(3)] * 3
    assert await _get(channel, queue_name, 10) == []


@pytest.mark.services
@pytest.mark.parametrize("batched", PATHS)
async def test_unroutable_mandatory_messages_come_back_unconfirmed(
    channel: aiormq.abc.AbstractChannel, queue_name: str, batched: bool
) -> None:
    """Mandatory messages to a missing queue end in PublishError, routable ones in an ack; no id stays mapped."""
    await cross(channel.queue_declare, queue_name, durable=True)
    properties = [spec.Basic.Properties(delivery_mode=2, message_id=f"id-{i}") for i in range(6)]
    publications = [
        Publication(queue_name if i % 2 else f"{queue_name}-missing", b"x", p, mandatory=True)
        for i, p in enumerate(properties)
    ]
    outcomes = await cross(publish_batch, channel, publications, batched=batched)
    assert [type(o) for o in outcomes] == [aiormq.exceptions.PublishError, spec.Basic.Ack] * 3
    assert cast(aiormq.Channel, channel).message_id_delivery_tag == {}
    again = await cross(publish_batch, channel, publications[1:2], batched=batched)  # the channel still works
    assert [type(o) for o in again] == [spec.Basic.Ack]
