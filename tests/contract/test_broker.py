"""Contract tier: the Broker port, the same tests on MemoryBroker and on AmqpBroker over RabbitMQ."""

from __future__ import annotations

import pytest
import trio

from smstrio.ports import DEAD_REASON_CHARS, Broker, DeadLetter, Delivery, Outgoing, QueueInfo, Retry
from tests.contract.world import World

SETTLE_S = 0.3
"""Long enough for RabbitMQ to deliver what it is going to deliver (a jump for the twin)."""

Seen = tuple[str | None, bytes, bool, int]


def _outgoing(count: int) -> list[Outgoing]:
    return [Outgoing(f"m{i}", f"body {i}".encode()) for i in range(count)]


def _seen(deliveries: list[Delivery]) -> list[Seen]:
    return [(d.message_id, d.body, d.redelivered, d.attempt) for d in deliveries]


async def _take(receive: trio.MemoryReceiveChannel[Delivery], count: int) -> list[Delivery]:
    return [await receive.receive() for _ in range(count)]


async def _nothing_more(world: World, receive: trio.MemoryReceiveChannel[Delivery]) -> None:
    await world.advance(SETTLE_S)
    with pytest.raises(trio.WouldBlock):
        receive.receive_nowait()


async def test_published_messages_are_delivered_with_their_ids(broker: Broker, queue_name: str) -> None:
    """publish confirms every message; a consumer gets each once, in order, with its id and body, attempt 1."""
    assert await broker.publish(queue_name, _outgoing(3)) == [True, True, True]
    send, receive = trio.open_memory_channel[Delivery](10)
    await broker.consume(queue_name, 10, send)
    got = await _take(receive, 3)
    assert _seen(got) == [("m0", b"body 0", False, 1), ("m1", b"body 1", False, 1), ("m2", b"body 2", False, 1)]
    await broker.ack([d.tag for d in got])
    assert await broker.queue_info(queue_name) == QueueInfo(depth=0, consumers=1)


async def test_a_consumer_gets_no_more_than_its_prefetch(world: World, broker: Broker, queue_name: str) -> None:
    """With prefetch 2 a consumer holds two deliveries; each ack lets exactly one more through."""
    await broker.publish(queue_name, _outgoing(5))
    send, receive = trio.open_memory_channel[Delivery](2)
    await broker.consume(queue_name, 2, send)
    first, second = await _take(receive, 2)
    await _nothing_more(world, receive)
    assert await broker.queue_depth(queue_name) == 3
    await broker.ack([first.tag])
    (third,) = await _take(receive, 1)
    await _nothing_more(world, receive)
    assert [second.message_id, third.message_id] == ["m1", "m2"]
    assert await broker.queue_depth(queue_name) == 2


async def test_a_requeued_delivery_comes_back_redelivered(world: World, broker: Broker, queue_name: str) -> None:
    """requeue puts a delivery back at the head of the queue; it comes again, marked redelivered."""
    await broker.publish(queue_name, _outgoing(2))
    send, receive = trio.open_memory_channel[Delivery](1)
    await broker.consume(queue_name, 1, send)
    (first,) = await _take(receive, 1)
    await broker.requeue([first.tag])
    (again,) = await _take(receive, 1)
    assert _seen([first, again]) == [("m0", b"body 0", False, 1), ("m0", b"body 0", True, 1)]


async def test_unacked_deliveries_return_when_the_connection_closes(broker: Broker, queue_name: str) -> None:
    """aclose gives unacknowledged deliveries back; on a new connection they come first, redelivered."""
    await broker.publish(queue_name, _outgoing(3))
    send, receive = trio.open_memory_channel[Delivery](2)
    await broker.consume(queue_name, 2, send)
    old = await _take(receive, 2)
    await broker.aclose()
    await broker.reconnect()
    assert await broker.queue_depth(queue_name) == 3
    send, receive = trio.open_memory_channel[Delivery](3)
    await broker.consume(queue_name, 3, send)
    again = await _take(receive, 3)
    assert _seen(again) == [("m0", b"body 0", True, 1), ("m1", b"body 1", True, 1), ("m2", b"body 2", False, 1)]
    await broker.ack([d.tag for d in old])
    await broker.requeue([d.tag for d in old])
    assert await broker.queue_info(queue_name) == QueueInfo(depth=0, consumers=1)


async def test_cancel_stops_deliveries_but_not_settling(world: World, broker: Broker, queue_name: str) -> None:
    """After cancel no delivery arrives and the consumer no longer counts; what it holds can still be acked."""
    await broker.publish(queue_name, _outgoing(3))
    send, receive = trio.open_memory_channel[Delivery](1)
    tag = await broker.consume(queue_name, 1, send)
    (held,) = await _take(receive, 1)
    await broker.cancel(tag)
    await broker.ack([held.tag])
    await _nothing_more(world, receive)
    assert await broker.queue_info(queue_name) == QueueInfo(depth=2, consumers=0)


async def test_a_retry_returns_after_its_delay_with_its_attempt(world: World, broker: Broker, queue_name: str) -> None:
    """retry_later holds a message in <queue>.retry (counted in the depth) for its delay, then delivers it again."""
    send, receive = trio.open_memory_channel[Delivery](10)
    await broker.consume(queue_name, 10, send)
    await broker.retry_later(queue_name, [Retry(b"again", "r1", attempt=2, delay_s=0.6)])
    await _nothing_more(world, receive)
    assert await broker.queue_info(queue_name) == QueueInfo(depth=1, consumers=1)
    (back,) = await _take(receive, 1)
    await broker.requeue([back.tag])
    (requeued,) = await _take(receive, 1)
    assert _seen([back, requeued]) == [("r1", b"again", False, 2), ("r1", b"again", True, 2)]


async def test_a_retry_waits_behind_a_longer_one(world: World, broker: Broker, queue_name: str) -> None:
    """<queue>.retry is a queue: a short delay behind a longer one waits for it, then both come in order."""
    send, receive = trio.open_memory_channel[Delivery](10)
    await broker.consume(queue_name, 10, send)
    await broker.retry_later(
        queue_name, [Retry(b"long", "r1", attempt=2, delay_s=1.0), Retry(b"short", "r2", attempt=3, delay_s=0.2)]
    )
    await world.advance(0.4)
    await _nothing_more(world, receive)
    back = await _take(receive, 2)
    assert _seen(back) == [("r1", b"long", False, 2), ("r2", b"short", False, 3)]


async def test_dead_letters_are_listed_with_their_reasons(broker: Broker, queue_name: str) -> None:
    """dead_letter keeps each reason; dead_letters lists them oldest first, leaving them there, out of the depth."""
    letters = [DeadLetter(b"junk", "x-1", "body is not JSON"), DeadLetter(b"{}", "x-2", "missing fields: to")]
    await broker.dead_letter(queue_name, letters)
    assert await broker.dead_letters(queue_name, 10) == letters
    assert await broker.dead_letters(queue_name, 1) == letters[:1]
    assert await broker.dead_letters(queue_name, 10) == letters
    assert await broker.queue_info(queue_name) == QueueInfo(depth=0, consumers=0)


async def test_a_long_dead_letter_reason_keeps_its_first_500_characters(broker: Broker, queue_name: str) -> None:
    """A reason longer than DEAD_REASON_CHARS comes back cut to that many characters, on both adapters."""
    reason = "why " * 200
    await broker.dead_letter(queue_name, [DeadLetter(b"junk", "x-1", reason)])
    assert await broker.dead_letters(queue_name, 1) == [DeadLetter(b"junk", "x-1", reason[:DEAD_REASON_CHARS])]


async def test_requeue_dead_moves_dead_letters_back(broker: Broker, queue_name: str) -> None:
    """requeue_dead moves up to ``limit`` dead letters, oldest first, back to the queue as first attempts."""
    letters = [DeadLetter(b"junk", "x-1", "body is not JSON"), DeadLetter(b"{}", "x-2", "missing fields: to")]
    await broker.dead_letter(queue_name, letters)
    assert await broker.requeue_dead(queue_name, 1) == 1
    assert await broker.dead_letters(queue_name, 10) == letters[1:]
    assert await broker.requeue_dead(queue_name, 10) == 1
    assert await broker.requeue_dead(queue_name, 10) == 0
    assert await broker.dead_letters(queue_name, 10) == []
    send, receive = trio.open_memory_channel[Delivery](2)
    await broker.consume(queue_name, 2, send)
    assert _seen(await _take(receive, 2)) == [("x-1", b"junk", False, 1), ("x-2", b"{}", False, 1)]


async def test_queue_info_counts_ready_and_waiting_messages_and_consumers(broker: Broker, queue_name: str) -> None:
    """The depth counts ready and delayed messages but not delivered ones; consumers count until cancelled."""
    await broker.publish(queue_name, _outgoing(3))
    await broker.retry_later(queue_name, [Retry(b"later", "r1", attempt=2, delay_s=60.0)])
    assert await broker.queue_info(queue_name) == QueueInfo(depth=4, consumers=0)
    send, receive = trio.open_memory_channel[Delivery](1)
    tag = await broker.consume(queue_name, 1, send)
    await _take(receive, 1)
    assert await broker.queue_info(queue_name) == QueueInfo(depth=3, consumers=1)
    assert await broker.queue_depth(queue_name) == 3
    await broker.cancel(tag)
    assert await broker.queue_info(queue_name) == QueueInfo(depth=3, consumers=0)


async def test_exists_tells_a_declared_queue_from_a_missing_one(broker: Broker, queue_name: str) -> None:
    """exists is true for a declared queue, false for one never declared, and declares nothing."""
    assert await broker.exists(queue_name)
    assert not await broker.exists(f"{queue_name}-never-declared")
    assert not await broker.exists(f"{queue_name}-never-declared")
    await broker.publish(queue_name, _outgoing(1))  # the connection is still usable after a missing queue
    assert await broker.queue_depth(queue_name) == 1
