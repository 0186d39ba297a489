"""Fault tier: crashes, cut connections, a restarted Redis and bad input, each ending with a ledger check.

The ledger: once the queue is drained, ``sent + failed + invalid == produced`` exactly,
nothing is left in the queue, and nothing is counted twice.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.ports import Outgoing
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, delete_queues, kill_and_restart, stats
from tests.faultkit import PrivateRedis, TcpProxy

pytestmark = pytest.mark.services

SENDER = ("send", "--workers", "20", "--mean", "0.01", "--failure-rate", "0.2", "--until-empty")


def _ledger(data: dict[str, int], produced: int, *, invalid: int = 0) -> None:
    assert data["produced"] == produced
    assert (data["sent"] + data["failed"], data["invalid"]) == (produced - invalid, invalid)
    assert data["queue_depth"] == 0


async def _sample_totals(store: RedisStore, samples: list[tuple[int, int]]) -> None:
    """Record (processed, produced) every 20 ms, to check the invariant holds at every moment."""
    while True:
        t = (await store.view()).totals
        samples.append((t.sent + t.failed + t.invalid, t.produced))
        await trio.sleep(0.02)


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{port}").geturl()


async def _drain(smstrio: Smstrio) -> None:
    """A final sender picks up whatever killed or cut senders left behind."""
    result = await smstrio.run(*SENDER)
    assert result.returncode == 0, result.stderr.decode()[-2000:]


async def test_sigkilled_senders_lose_nothing(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """Senders killed with SIGKILL mid-run and restarted: every message counted exactly once.

    Sampled throughout: outcomes counted never exceed messages produced.
    """
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path)
    samples: list[tuple[int, int]] = []
    with trio.fail_after(180):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_sample_totals, store, samples)
            assert (await smstrio.run("produce", "3000")).returncode == 0
            senders = [await smstrio.start(*SENDER) for _ in range(3)]
            kills = await kill_and_restart(senders, smstrio, SENDER, kills=6, every=(0.2, 0.5), rng=random.Random(5))
            for process in senders:
                await process.wait()
            await _drain(smstrio)
            nursery.cancel_scope.cancel()
    assert kills == 6
    assert len(samples) > 20  # sampled in real time while senders die: how many varies
    assert all(processed <= produced for processed, produced in samples)
    _ledger(stats(await smstrio.run("stats")), 3000)


async def test_cut_broker_connection_mid_run(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """A sender whose AMQP connection is cut twice reconnects by itself and loses nothing."""
    direct = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path / "direct")
    assert (await direct.run("produce", "3000")).returncode == 0
    proxy = TcpProxy(urlsplit(AMQP_URL).port or 5672)
    with trio.fail_after(180):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(proxy.run)
            proxied = Smstrio(queue_name, _via(AMQP_URL, port), REDIS_URL, tmp_path / "proxied")
            sender = await proxied.start(*SENDER)
            for _ in range(2):
                while (await store.view()).totals.sent < 500 * (proxy.cuts + 1):  # noqa: ASYNC110 - polls Redis
                    await trio.sleep(0.05)
                assert proxy.cut() >= 1  # the sender may hold more than one connection through the proxy
            await sender.wait()
            nursery.cancel_scope.cancel()
    assert sender.returncode == 0
    logged = proxied.log_text()
    assert logged.count('"event":"lost the broker; reconnecting"') == 2
    assert logged.count('"event":"consuming again"') == 2
    await _drain(direct)
    _ledger(stats(await direct.run("stats")), 3000)


@pytest.mark.skipif(not PrivateRedis.available(), reason="needs redis-server on PATH to start a private Redis")
async def test_redis_restarted_mid_run(broker: AmqpBroker, queue_name: str, tmp_path: Path) -> None:
    """Redis restarting (with persistence) mid-run: the sender holds its outcomes, retries, and loses nothing."""
    redis = PrivateRedis(tmp_path / "redis")
    await redis.start()
    try:
        smstrio = Smstrio(queue_name, AMQP_URL, redis.url, tmp_path / "logs")
        assert (await smstrio.run("produce", "2000")).returncode == 0
        with trio.fail_after(180):
            sender = await smstrio.start(*SENDER)
            store = await RedisStore.connect(redis.url, queue_name)
            while (await store.view()).totals.sent < 300:  # noqa: ASYNC110 - polls Redis
                await trio.sleep(0.05)
            await store.aclose()
            await redis.stop()
            await trio.sleep(2)
            await redis.start()
            await sender.wait()
        assert sender.returncode == 0
        logged = smstrio.log_text()
        assert '"event":"storing outcomes failed; retrying"' in logged
        assert '"event":"storing outcomes recovered"' in logged
        await _drain(smstrio)
        _ledger(stats(await smstrio.run("stats")), 2000)
    finally:
        await redis.kill()


async def test_malformed_messages_mixed_with_valid_ones(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """Malformed messages among valid ones are dead-lettered and counted invalid once; the ledger balances."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path)
    assert (await smstrio.run("produce", "500")).returncode == 0
    bad = [b"", b"{", b"[]", b'{"run": 1}', b"\xff\xfe", b"x" * 5000]
    assert all(await broker.publish(queue_name, [Outgoing(f"junk-{i}", body) for i, body in enumerate(bad * 5)]))
    assert (await smstrio.run("produce", "500")).returncode == 0
    await _drain(smstrio)
    data = stats(await smstrio.run("stats"))
    _ledger(data, 1030, invalid=30)
    assert data["duplicates"] == 0


async def test_producer_connection_cut_mid_publish(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """A producer whose connection is cut mid-publish resumes; produced counts each message once."""
    proxy = TcpProxy(urlsplit(AMQP_URL).port or 5672)
    with trio.fail_after(180):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(proxy.run)
            proxied = Smstrio(queue_name, _via(AMQP_URL, port), REDIS_URL, tmp_path / "proxied")
            producer = await proxied.start("produce", "20000", "--window", "500")
            while (await store.view()).totals.produced < 3000:  # noqa: ASYNC110 - polls Redis
                await trio.sleep(0.02)
            assert proxy.cut() == 1
            await producer.wait()
            nursery.cancel_scope.cancel()
    assert producer.returncode == 0
    assert '"event":"lost the broker; reconnecting"' in proxied.log_text()
    direct = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path / "direct")
    await _drain(direct)
    _ledger(stats(await direct.run("stats")), 20000)


@pytest.fixture(autouse=True)
async def _dead_queue_cleanup(queue_name: str) -> AsyncIterator[None]:
    """Fault tests leave nothing behind, even when they fail before the broker fixture's cleanup."""
    yield
    await delete_queues(queue_name)
