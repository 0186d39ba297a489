"""Fault tier: a queue deleted behind a running sender's back is said out loud, then declared again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiormq
import pytest
import trio

from smstrio.adapters.bridge import cross
from smstrio.adapters.redis.store import RedisStore
from smstrio.roles.redeclare import QUEUE_LOST
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, delete_queues

pytestmark = pytest.mark.services


async def _delete_queue(queue: str) -> None:
    """Delete ``queue`` alone, as an operator (or a broker losing it) would; its messages go with it."""

    async def delete() -> None:
        async with aiormq.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)

    await cross(delete)


def _events(smstrio: Smstrio, name: str) -> list[dict[str, Any]]:
    lines = (line for line in smstrio.log_text().splitlines() if line.startswith("{"))
    return [e for e in map(json.loads, lines) if e.get("event") == name]


async def test_a_deleted_queue_is_warned_about_and_declared_again(
    store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """The broker cancels the consumer of a deleted queue: the sender reconnects, warns once that the broker
    lost the queue with the ledger's numbers, declares it again and drains it; audit then names the loss."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path)
    assert (await smstrio.run("produce", "2000")).returncode == 0
    with trio.fail_after(120):
        sender = await smstrio.start("send", "--workers", "10", "--mean", "0.02", "--until-empty")
        while (await store.view()).totals.sent < 200:  # noqa: ASYNC110 - polls Redis
            await trio.sleep(0.02)
        await _delete_queue(queue_name)
        await sender.wait()
    assert sender.returncode == 0
    [warning] = _events(smstrio, QUEUE_LOST)
    assert warning["lost_queue"] == queue_name
    assert warning["confirmed"] == 2000
    assert 0 < warning["not_counted"] < 1800
    assert len(_events(smstrio, "consuming again")) == 1
    audit = await smstrio.run("audit", "--json")
    assert audit.returncode == 1
    assert json.loads(audit.stdout)["missing"] > 0


async def test_a_producer_whose_queue_is_deleted_says_so_and_publishes_on(
    store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """Messages published after the queue was deleted come back (mandatory): the producer warns that the broker
    lost the queue, with the messages confirmed into it, declares it again and publishes them there; those
    confirmed before the deletion are what audit then finds missing, exactly."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path)
    with trio.fail_after(120):
        producer = await smstrio.start("produce", "20000", "--window", "200")
        while (await store.view()).totals.produced < 2000:  # noqa: ASYNC110 - polls Redis
            await trio.sleep(0.01)
        await _delete_queue(queue_name)
        assert await producer.wait() == 0
    [warning] = _events(smstrio, QUEUE_LOST)
    assert warning["lost_queue"] == queue_name
    assert warning["confirmed"] == warning["not_counted"] >= 2000
    assert _events(smstrio, "the broker refused messages")
    assert (await smstrio.run("send", "--workers", "20", "--mean", "0", "--until-empty")).returncode == 0
    audit = await smstrio.run("audit", "--json")
    assert audit.returncode == 1
    found = json.loads(audit.stdout)
    assert (found["confirmed"], found["missing"]) == (20000, warning["not_counted"])


@pytest.fixture(autouse=True)
async def _cleanup(queue_name: str) -> Any:
    """Nothing is left behind on the shared broker, even after a failure."""
    yield
    await delete_queues(queue_name)
