"""Fault tier: a private three-node RabbitMQ cluster losing a node under the producer, then under a sender.

The queue is a quorum queue and ``AMQP_URL`` lists the three nodes: each process connects to one and,
when it dies, moves on to the next. Every confirmed message must be counted exactly once, and
``smstrio audit`` must find nothing missing. Starting the cluster takes 15-44 s here.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import REDIS_URL, Smstrio, stats
from smstrio.testing_cluster import Node, events, node_of, rabbitmq_available, rabbitmq_cluster, running, until_total

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not rabbitmq_available(), reason="needs rabbitmq-server to start a private cluster"),
]

MESSAGES = 20_000
SENDER = ("send", "--workers", "50", "--mean", "0.005", "--failure-rate", "0.1", "--until-empty")


@pytest.fixture
async def cluster(tmp_path: Path, record_property: Any) -> AsyncIterator[list[Node]]:
    """Three RabbitMQ nodes in one cluster, started and stopped in a thread (they take tens of seconds)."""
    manager = rabbitmq_cluster(tmp_path / "cluster", nodes=3)
    started = time.monotonic()
    nodes = await trio.to_thread.run_sync(manager.__enter__)
    record_property("cluster_start_s", round(time.monotonic() - started, 1))  # with --junitxml, junit_family=xunit1
    try:
        yield nodes
    finally:
        await trio.to_thread.run_sync(manager.__exit__, None, None, None)


async def test_a_cluster_losing_a_node_under_each_role_counts_every_message_once(
    cluster: list[Node], store: RedisStore, queue_name: str, tmp_path: Path, record_property: Any
) -> None:
    """Produce 20,000 to a quorum queue while the producer's node is SIGKILLed, consume with two senders
    while another node is SIGKILLed: each confirmed message counted once, and audit finds nothing missing."""
    url = ",".join(node.url for node in cluster)
    smstrio = Smstrio(queue_name, url, REDIS_URL, tmp_path / "logs", extra_env={"QUEUE_TYPE": "quorum"})
    logs = tmp_path / "logs"
    with trio.fail_after(400):
        producer = await smstrio.start("produce", str(MESSAGES), "--window", "500")
        first = await node_of(logs / "001-produce.log", cluster)
        await until_total(store, "produced", MESSAGES // 4)
        producer_killed_at = time.time()
        await trio.to_thread.run_sync(first.kill)
        assert await producer.wait() == 0
        await trio.to_thread.run_sync(first.start)  # back on its data: it rejoins, so that two of three stay up
        assert len(await trio.to_thread.run_sync(running, first)) == 3

        senders = [await smstrio.start(*SENDER, "--seed", str(seed)) for seed in (1, 2)]
        held = [await node_of(logs / f"00{i}-send.log", cluster) for i in (2, 3)]
        second = [n for n in held if n is not first] or held  # another node than the first, if a sender is on one
        await until_total(store, "sent", MESSAGES // 4)
        killed_at = time.time()
        await trio.to_thread.run_sync(second[0].kill)
        for sender in senders:
            assert await sender.wait() == 0
        failover = [e["ts"] for i in (2, 3) for e in events(logs / f"00{i}-send.log", "consuming again")]

    producer_log = logs / "001-produce.log"
    assert len(events(producer_log, "lost the broker; reconnecting")) >= 1
    moved = [e["ts"] for e in events(producer_log, "connected to a broker node") if e["ts"] > producer_killed_at]
    record_property("producer_failover_s", round(moved[0] - producer_killed_at, 2))  # SIGKILL to a new node
    assert failover, "a sender on the killed node reconnects to another"
    record_property("sender_failover_s", round(min(failover) - killed_at, 2))  # SIGKILL to consuming again
    data = stats(await smstrio.run("stats"))
    assert (data["produced"], data["sent"] + data["failed"] + data["invalid"], data["queue_depth"]) == (
        MESSAGES,
        MESSAGES,
        0,
    )
    audit = await smstrio.run("audit", "--json")
    assert audit.returncode == 0, audit.stdout.decode() + audit.stderr.decode()[-2000:]
    assert json.loads(audit.stdout)["missing"] == 0
