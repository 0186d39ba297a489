"""Fault tier: connections that go silent (bytes dropped both ways, no FIN, no RST), as a pulled cable.

A sender must notice within 30 s, reconnect by itself and keep the counts exact. The default AMQP
heartbeat (10 s, a connection dropped after about two silent intervals) and the Redis socket timeout
(5 s a command) are what notice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, delete_queues, stats
from tests.faultkit import TcpProxy

pytestmark = pytest.mark.services

NOTICE_WITHIN_S = 30.0
SENDER = ("send", "--workers", "20", "--mean", "0.005", "--failure-rate", "0.2", "--until-empty")


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth = f"{parts.username}:{parts.password}@" if parts.password is not None else ""
    return parts._replace(netloc=f"{auth}127.0.0.1:{port}").geturl()


def _events(smstrio: Smstrio, name: str) -> list[dict[str, Any]]:
    lines = (line for line in smstrio.log_text().splitlines() if line.startswith("{"))
    return [e for e in map(json.loads, lines) if e.get("event") == name]


async def _sent_at_least(store: RedisStore, count: int) -> float:
    """Wait until ``count`` messages are sent; return when (Unix seconds)."""
    while (await store.view()).totals.sent < count:  # noqa: ASYNC110 - polls Redis
        await trio.sleep(0.02)
    return time.time()


def _exact(data: dict[str, Any], produced: int) -> None:
    assert data["produced"] == produced
    assert data["sent"] + data["failed"] + data["invalid"] == produced
    assert data["queue_depth"] == 0


async def _silenced(store: RedisStore, queue: str, tmp_path: Path, *, service: str) -> tuple[Smstrio, float, float]:
    """4,000 messages; a sender reaching ``service`` (``amqp`` or ``redis``) through a proxy silenced after
    500 are sent, then left to finish; a last sender drains what is left, and the counts must be exact.

    Returns the proxied sender's commands, how long after the silence it first closed a silent connection
    (it noticed), and how long until an outcome was counted after that.
    """
    direct = Smstrio(queue, AMQP_URL, REDIS_URL, tmp_path / "direct")
    assert (await direct.run("produce", "4000")).returncode == 0
    proxy = TcpProxy(urlsplit(AMQP_URL if service == "amqp" else REDIS_URL).port or 0)
    with trio.fail_after(150):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(proxy.run)
            amqp, redis = (_via(AMQP_URL, port), REDIS_URL) if service == "amqp" else (AMQP_URL, _via(REDIS_URL, port))
            proxied = Smstrio(queue, amqp, redis, tmp_path / "proxied")
            sender = await proxied.start(*SENDER)
            await _sent_at_least(store, 500)
            before = (await store.view()).totals.sent
            silenced = time.time()
            assert proxy.blackhole() >= 1
            while not proxy.abandoned:  # noqa: ASYNC110 - the proxy is ours, in this process
                await trio.sleep(0.02)
            noticed = proxy.abandoned[0] - silenced
            resumed = await _sent_at_least(store, (await store.view()).totals.sent + 1) - silenced
            await sender.wait()
            nursery.cancel_scope.cancel()
    assert before >= 500
    assert sender.returncode == 0
    assert (await direct.run(*SENDER)).returncode == 0  # picks up what a silenced connection held, if anything
    _exact(stats(await direct.run("stats")), 4000)
    return proxied, noticed, resumed


@pytest.mark.parametrize("service", ["amqp", "redis"])
async def test_a_silent_connection_is_noticed(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path, record_property: Any, service: str
) -> None:
    """A sender whose AMQP connection (heartbeats notice) or Redis connections (socket timeouts notice) go
    silent gives them up within 30 s, connects again and loses nothing."""
    proxied, noticed, resumed = await _silenced(store, queue_name, tmp_path, service=service)
    record_property("noticed_after_s", round(noticed, 2))  # with --junitxml and -o junit_family=xunit1
    record_property("counting_again_after_s", round(resumed, 2))
    assert noticed <= NOTICE_WITHIN_S
    reconnects = len(_events(proxied, "lost the broker; reconnecting")), len(_events(proxied, "consuming again"))
    assert reconnects == ((1, 1) if service == "amqp" else (0, 0))


@pytest.fixture(autouse=True)
async def _cleanup(queue_name: str) -> Any:
    """Nothing is left behind on the shared broker, even after a failure."""
    yield
    await delete_queues(queue_name)
