"""Integration tier: the adapters and roles against the real RabbitMQ and Redis."""

from __future__ import annotations

import collections
import random
import re
from typing import Any

import aiormq
import pytest
import redis.asyncio as aioredis
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.amqp.topology import REASON_HEADER
from smstrio.adapters.bridge import cross
from smstrio.adapters.redis.store import RedisStore
from smstrio.core.config import Common, MonitorSettings, ProducerSettings, SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.core.errors import BrokerError, StoreError
from smstrio.core.histogram import bucket_key
from smstrio.core.keys import Keys
from smstrio.core.message import encode, random_sms
from smstrio.core.stats import Outcome, OutcomeRecord, StatsSnapshot, snapshot
from smstrio.ports import Outgoing, QueueInfo
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.monitor import Monitor, collect
from smstrio.roles.producer import run_producer
from smstrio.roles.sender import Sender, run_sender
from smstrio.testing import AMQP_URL, REDIS_URL, histogram_of

pytestmark = pytest.mark.services


def _sender_settings(queue: str, **overrides: Any) -> SenderSettings:
    fields: dict[str, Any] = {
        "workers": 20,
        "mean": 0.0,
        "failure_rate": 0.25,
        "distribution": Distribution.CONSTANT,
        "until_empty": True,
        "grace": 5.0,
    }
    fields.update(overrides)
    return SenderSettings(common=Common(queue=queue, amqp_url=AMQP_URL, redis_url=REDIS_URL), **fields)


async def _drain(settings: SenderSettings, broker: AmqpBroker, store: RedisStore, seed: int = 1) -> None:
    rng = random.Random(seed)
    gateway = SimulatedGateway(sampler(settings.distribution, settings.mean, rng), settings.failure_rate, rng)
    with trio.fail_after(60):
        await run_sender(settings, broker, store, gateway)


async def _get_all(queue: str) -> list[aiormq.abc.DeliveredMessage]:
    """Take every ready message off ``queue`` (acking them), straight through aiormq."""

    async def get() -> list[aiormq.abc.DeliveredMessage]:
        connection = await aiormq.connect(AMQP_URL)
        try:
            channel = await connection.channel()
            messages = []
            while True:
                try:
                    message = await channel.basic_get(queue, no_ack=True)
                except aiormq.exceptions.AMQPError:
                    break
                if message.body == b"" and message.header.body_size == 0:
                    break
                messages.append(message)
            return messages
        finally:
            await connection.close()

    return await cross(get)


async def test_produce_then_send_counts_every_message_once(
    broker: AmqpBroker, store: RedisStore, queue_name: str
) -> None:
    """1,000 confirmed messages are all processed: sent + failed == produced, queue empty."""
    common = Common(queue=queue_name, amqp_url=AMQP_URL, redis_url=REDIS_URL)
    with trio.fail_after(30):
        summary = await run_producer(ProducerSettings(common=common, count=1000, window=300), broker, store)
    assert summary.confirmed == summary.published == 1000
    assert await broker.queue_depth(queue_name) == 1000
    await _drain(_sender_settings(queue_name), broker, store)
    snap = await collect(queue_name, broker, store)
    assert (snap.produced, snap.sent + snap.failed, snap.invalid, snap.duplicates) == (1000, 1000, 0, 0)
    # Constant send times draw nothing from the seeded generator: the failures are seed 1's first
    # 1,000 draws below 0.25, whichever worker happened to make each draw.
    assert snap.failed == 227
    assert snap.queue_depth == 0


async def test_queue_info_counts_the_consumers_on_the_queue(
    broker: AmqpBroker, store: RedisStore, queue_name: str
) -> None:
    """While a sender consumes, the broker counts one consumer on the queue, and /stats says so; none after it stops."""
    await broker.declare(queue_name)
    assert await broker.queue_info(queue_name) == QueueInfo(depth=0, consumers=0)
    settings = _sender_settings(queue_name, until_empty=False)
    rng = random.Random(1)
    gateway = SimulatedGateway(sampler(settings.distribution, settings.mean, rng), settings.failure_rate, rng)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            sender: Sender = await nursery.start(run_sender, settings, broker, store, gateway)
            while_consuming = await broker.queue_info(queue_name)
            snap = await collect(queue_name, broker, store)
            sender.stop()
    assert while_consuming.consumers == snap.consumers == 1
    assert (await broker.queue_info(queue_name)).consumers == 0


async def _hgetall(key: str) -> dict[str, str]:
    """One Redis hash, read straight through redis-py."""

    async def get() -> dict[str, str]:
        client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
        try:
            return {str(k): str(v) for k, v in (await client.hgetall(key)).items()}
        finally:
            await client.aclose()

    return await cross(get)


async def test_record_fills_histograms_that_merge_across_senders(store: RedisStore, queue_name: str) -> None:
    """Two senders' batches fill the histogram hashes; view() merges them into the histogram of every value."""
    rng = random.Random(11)
    service = [round(rng.expovariate(1 / 50_000)) for _ in range(600)]
    latency = [round(rng.uniform(0, 30_000_000)) for _ in range(600)]
    records = [
        OutcomeRecord(outcome=(Outcome.SENT, Outcome.FAILED)[i % 2], service_us=s, latency_us=lat, run="e" * 12, seq=i)
        for i, (s, lat) in enumerate(zip(service, latency, strict=True))
    ]
    ignored = [
        OutcomeRecord(outcome=Outcome.SENT, service_us=10**12, latency_us=10**12, run="e" * 12, seq=0),  # duplicate
        OutcomeRecord(outcome=Outcome.INVALID, service_us=10**12, latency_us=10**12, run="e" * 12, seq=9_999),
    ]
    other = await RedisStore.connect(REDIS_URL, queue_name)
    try:
        await store.record(records[:250])
        await other.record(records[250:] + ignored)
    finally:
        await other.aclose()

    keys = Keys(queue_name)
    for key, values in ((keys.service_histogram, service), (keys.latency_histogram, latency)):
        fields = await _hgetall(key)
        assert (int(fields.pop("min")), int(fields.pop("max"))) == (min(values), max(values))
        assert {int(k): int(n) for k, n in fields.items()} == collections.Counter(bucket_key(v) for v in values)
    view = await store.view()
    assert view.totals.latency_us == sum(latency)
    for histogram, values in ((view.service, service), (view.latency, latency)):
        assert histogram == histogram_of(values)
    # Seed 11's percentiles, each within RELATIVE_ERROR of the exact nearest-rank one (service p50: 36,989 µs).
    assert [view.service.percentile(q) for q in (50, 90, 95, 99)] == [36_992, 120_576, 160_256, 265_216]
    assert [view.latency.percentile(q) for q in (50, 90, 95, 99)] == [15_368_192, 26_935_296, 28_246_016, 29_687_808]
    snap = snapshot(queue_name, view, queue_depth=None, now=0.0)
    assert (snap.service_time_s.max, snap.latency_s.max) == (max(service) / 1e6, max(latency) / 1e6)


async def test_malformed_messages_go_to_the_dead_letter_queue(
    broker: AmqpBroker, store: RedisStore, queue_name: str
) -> None:
    """Bodies that do not decode are counted invalid once and dead-lettered with their reason."""
    await broker.declare(queue_name)
    good = random_sms(random.Random(3), run="d" * 12, seq=0, created_at=0.0)
    flags = await broker.publish(
        queue_name,
        [
            Outgoing(good.message_id, encode(good)),
            Outgoing("d" * 12 + "-1", b"not json"),
            Outgoing("d" * 12 + "-2", b'{"run": "dddddddddddd"}'),
        ],
    )
    assert all(flags)
    await _drain(_sender_settings(queue_name, failure_rate=0.0), broker, store)
    totals = (await store.view()).totals
    assert (totals.sent, totals.invalid) == (1, 2)
    dead = await _get_all(f"{queue_name}.dead")
    reasons = sorted(str((m.header.properties.headers or {})[REASON_HEADER]) for m in dead)
    assert reasons == ["body is not JSON", "missing fields: created_at, seq, text, to"]


async def test_unreachable_servers_raise_our_errors(bridge: None) -> None:
    """Connecting to a closed port raises BrokerError / StoreError naming the server."""
    with pytest.raises(BrokerError, match=re.escape("cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1/")):
        await AmqpBroker.connect("amqp://guest:secret@127.0.0.1:1/")
    with pytest.raises(StoreError, match=re.escape("cannot connect to Redis at redis://127.0.0.1:1/0")):
        await RedisStore.connect("redis://127.0.0.1:1/0", "q", socket_timeout=1.0)


async def test_queue_declared_with_other_arguments_gives_a_clear_error(broker: AmqpBroker, queue_name: str) -> None:
    """A pre-existing queue of the same name without our arguments is reported, not a traceback."""

    async def declare_plain() -> None:
        connection = await aiormq.connect(AMQP_URL)
        try:
            channel = await connection.channel()
            await channel.queue_declare(queue_name, durable=True)
        finally:
            await connection.close()

    await cross(declare_plain)
    with pytest.raises(BrokerError, match="exists with other settings"):
        await broker.declare(queue_name)


async def test_dead_letters_can_be_listed_and_requeued(broker: AmqpBroker, store: RedisStore, queue_name: str) -> None:
    """Listing dead letters leaves them in place; requeueing moves them back to the queue, ids kept."""
    await broker.declare(queue_name)
    assert all(await broker.publish(queue_name, [Outgoing("x-1", b"junk"), Outgoing("x-2", b"{}")]))
    await _drain(_sender_settings(queue_name), broker, store)
    listed = await broker.dead_letters(queue_name, 10)
    assert sorted((x.message_id, x.reason) for x in listed) == [
        ("x-1", "body is not JSON"),
        ("x-2", "missing fields: created_at, run, seq, text, to"),
    ]
    assert len(await broker.dead_letters(queue_name, 1)) == 1
    assert len(await broker.dead_letters(queue_name, 10)) == 2
    assert await broker.requeue_dead(queue_name, 10) == 2
    assert await broker.dead_letters(queue_name, 10) == []
    assert sorted(str(m.header.properties.message_id) for m in await _get_all(queue_name)) == ["x-1", "x-2"]


async def test_retries_go_through_the_delay_queue(broker: AmqpBroker, store: RedisStore, queue_name: str) -> None:
    """Failed sends wait in <queue>.retry and come back with their attempt number; the final outcome counts once."""
    common = Common(queue=queue_name, amqp_url=AMQP_URL, redis_url=REDIS_URL)
    with trio.fail_after(30):
        await run_producer(ProducerSettings(common=common, count=20), broker, store)
    settings = _sender_settings(queue_name, failure_rate=1.0, max_attempts=3, retry_delay=0.05)
    await _drain(settings, broker, store)
    totals = (await store.view()).totals
    assert (totals.produced, totals.sent, totals.failed, totals.retried, totals.duplicates) == (20, 0, 20, 40, 0)
    assert await broker.queue_depth(queue_name) == 0
    assert await _get_all(f"{queue_name}.retry") == []


async def test_two_monitors_and_a_restarted_one_show_the_same_numbers(
    broker: AmqpBroker, store: RedisStore, queue_name: str
) -> None:
    """The monitor keeps no counts of its own: two monitors, and one started afresh later, serve equal snapshots."""
    common = Common(queue=queue_name, amqp_url=AMQP_URL, redis_url=REDIS_URL)
    with trio.fail_after(30):
        await run_producer(ProducerSettings(common=common, count=300, window=100), broker, store)
        await _drain(_sender_settings(queue_name), broker, store)

    def numbers(snap: StatsSnapshot) -> dict[str, Any]:
        # The rates depend on the moment they are read (the last whole second, 5 s, 60 s), not on the monitor.
        moving = {"updated_at", "rate_1s", "throughput_per_s", "rate_60s", "eta_s"}
        return {k: v for k, v in snap.to_json().items() if k not in moving}

    second_store = await RedisStore.connect(REDIS_URL, queue_name)
    try:
        first = Monitor(MonitorSettings(common=common), broker, store)
        second = Monitor(MonitorSettings(common=common), broker, second_store)
        one, two = await first.refresh(), await second.refresh()
        restarted = await Monitor(MonitorSettings(common=common), broker, second_store).refresh()
    finally:
        await second_store.aclose()
    assert numbers(one) == numbers(two) == numbers(restarted)
    assert (one.produced, one.processed, one.queue_depth) == (300, 300, 0)
