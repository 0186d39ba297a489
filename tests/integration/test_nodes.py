"""Integration tests of broker node lists on the local RabbitMQ, reached through proxies that stand for nodes."""

from __future__ import annotations

import contextlib
import json
import random
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.cli import EXIT_UNAVAILABLE, main
from smstrio.core.errors import BrokerError
from smstrio.core.urls import redact
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, free_port
from tests.faultkit import TcpProxy


def _node(port: int) -> str:
    parts = urlsplit(AMQP_URL)
    return parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{port}").geturl()


def test_the_start_is_shuffled_per_process() -> None:
    """Each broker tries the nodes in an order of its own, so that processes spread over the nodes."""
    url = ",".join(f"amqp://u:p@n{i}/" for i in range(3))
    firsts = [AmqpBroker(url, name="t", rng=random.Random(seed)).node for seed in range(12)]
    assert set(firsts) == {"amqp://u:***@n0/", "amqp://u:***@n1/", "amqp://u:***@n2/"}


def test_unreachable_nodes_each_named_without_passwords(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--amqp-url repeated: none answering gives exit 3 and one line naming each node, no password."""
    monkeypatch.chdir(tmp_path)
    nodes = [f"amqp://guest:secret-{i}@127.0.0.1:{free_port()}/" for i in range(2)]
    with pytest.raises(SystemExit) as exit_info:
        main(["stats", "--amqp-url", nodes[0], "--amqp-url", nodes[1]])
    err = capsys.readouterr().err
    assert exit_info.value.code == EXIT_UNAVAILABLE
    assert len(err.splitlines()) == 1
    assert "cannot connect to any of 2 RabbitMQ nodes" in err
    assert "secret" not in err
    assert all(f":{urlsplit(n).port}/" in err for n in nodes)


@pytest.mark.services
async def test_a_dead_node_is_skipped(bridge: None) -> None:
    """Of a dead node and a live one, the broker connects to the live one, whichever it tries first."""
    dead, live = _node(free_port()), AMQP_URL
    for seed in range(2):
        broker = AmqpBroker(f"{dead},{live}", name="smstrio test", rng=random.Random(seed))
        await broker.reconnect()
        try:
            assert broker.node == redact(live)
        finally:
            await broker.aclose()


@pytest.mark.services
async def test_a_lost_node_is_followed_by_the_next(bridge: None, queue_name: str) -> None:
    """When the node connected to is lost, the reconnect goes to the next node of the list."""
    target = urlsplit(AMQP_URL).port or 5672
    proxies = [TcpProxy(target), TcpProxy(target)]
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            ports = [await nursery.start(p.run) for p in proxies]
            broker = await AmqpBroker.connect(",".join(_node(p) for p in ports), name="smstrio test")
            try:
                first = ports.index(urlsplit(broker.node).port or 0)
                assert proxies[first].cut() == 1
                with pytest.raises(BrokerError, match="lost the connection"):
                    await broker.watch()
                await broker.reconnect()
                assert broker.node == redact(_node(ports[1 - first]))
                await broker.declare(queue_name)
                await broker.delete(queue_name)
            finally:
                await broker.aclose()
            nursery.cancel_scope.cancel()


def _events(smstrio: Smstrio, name: str) -> list[dict[str, Any]]:
    """The log lines of event ``name`` the commands wrote so far (a line still being written is left out)."""
    found = []
    for line in smstrio.log_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == name:
                found.append(record)
    return found


@pytest.mark.services
async def test_a_monitor_follows_the_next_node(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """A monitor whose node is lost reconnects to the next node of the list and goes on with the queue's depth."""
    target = urlsplit(AMQP_URL).port or 5672
    proxies = [TcpProxy(target), TcpProxy(target)]
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            ports = [await nursery.start(p.run) for p in proxies]
            smstrio = Smstrio(queue_name, ",".join(_node(p) for p in ports), REDIS_URL, tmp_path)
            monitor = await smstrio.start("monitor", "--interval", "0.2", "--port", "0", "--json")
            while not (connected := _events(smstrio, "connected to a broker node")):  # noqa: ASYNC110 - a log
                await trio.sleep(0.05)
            first = ports.index(urlsplit(connected[0]["node"]).port or 0)
            assert proxies[first].cut() == 1
            while not _events(smstrio, "reconnected to the broker"):  # noqa: ASYNC110 - reads a log file
                await trio.sleep(0.05)
            seen = len(_events(smstrio, "stats"))
            while len(_events(smstrio, "stats")) == seen:  # noqa: ASYNC110 - reads a log file
                await trio.sleep(0.05)
            monitor.send_signal(signal.SIGINT)
            await monitor.wait()
            nursery.cancel_scope.cancel()
    moved = [urlsplit(e["node"]).port for e in _events(smstrio, "connected to a broker node")]
    assert moved == [ports[first], ports[1 - first]]
    assert _events(smstrio, "stats")[seen]["queue_depth"] == 0
