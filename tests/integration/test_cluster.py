"""Redis Cluster: the stats store on a private three-node cluster, selected by a redis+cluster:// URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.testing import AMQP_URL, Smstrio, stats
from tests.tlskit import monitor_stats, redis_available, redis_cluster

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three masters of a private Redis Cluster sharing the 16,384 slots."""
    if not redis_available():
        pytest.skip("needs redis-server and redis-cli")
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as ports:
        yield ports


async def test_produce_send_and_monitor_on_a_redis_cluster(
    broker: AmqpBroker, queue_name: str, cluster_ports: list[int], tmp_path: Path
) -> None:
    """Counts on a Redis Cluster are exact (stats and a monitor's /stats), and reset deletes them from it."""
    smstrio = Smstrio(queue_name, AMQP_URL, f"redis+cluster://127.0.0.1:{cluster_ports[1]}", tmp_path)
    assert (await smstrio.run("produce", "400")).returncode == 0
    sender = ("send", "--workers", "20", "--mean", "0", "--failure-rate", "0.25", "--until-empty")
    senders = [await smstrio.start(*sender) for _ in range(2)]
    with trio.fail_after(120):
        for process in senders:
            assert await process.wait() == 0
    data = stats(await smstrio.run("stats"))
    assert (data["produced"], data["sent"] + data["failed"], data["duplicates"]) == (400, 400, 0)
    # Two unseeded sender processes share the 400 messages as RabbitMQ delivers them: a quarter fail, roughly.
    assert 40 <= data["failed"] <= 160
    assert data["service_time_s"]["max"] is not None
    body = await monitor_stats(smstrio)
    assert (body["produced"], body["sent"], body["failed"]) == (400, data["sent"], data["failed"])
    reset = await smstrio.run("reset")
    assert reset.returncode == 0, reset.stderr.decode()[-2000:]
    assert stats(await smstrio.run("stats"))["produced"] == 0
