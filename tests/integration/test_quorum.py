"""Quorum queues on the shared broker: exact counts, declared quorum, and a clear error on a type mismatch."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiormq
import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.amqp.topology import QUORUM_DELIVERY_LIMIT, queue_arguments
from smstrio.adapters.bridge import cross
from smstrio.adapters.redis.store import RedisStore
from smstrio.cli import EXIT_UNAVAILABLE
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, stats

pytestmark = pytest.mark.services

QUORUM = ("--queue-type", "quorum")


async def _declare_classic(queue: str) -> str:
    """Declare ``queue`` as our classic queue straight through aiormq; the broker's refusal, if any."""

    async def declare() -> str:
        connection = await aiormq.connect(AMQP_URL)
        try:
            channel = await connection.channel()
            try:
                await channel.queue_declare(queue, durable=True, arguments=queue_arguments(queue))
            except aiormq.exceptions.ChannelPreconditionFailed as exc:
                return str(exc)
            return ""
        finally:
            await connection.close()

    return await cross(declare)


async def test_produce_and_send_on_a_quorum_queue(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """--queue-type quorum: the queue (and its .retry and .dead) are quorum queues, the queue with a delivery
    limit; failed sends come back through the quorum .retry, and every message is counted once."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path)
    assert (await smstrio.run("produce", "500", *QUORUM)).returncode == 0
    sender = ("send", "--workers", "20", "--mean", "0", "--failure-rate", "0.2", "--until-empty", *QUORUM)
    retries = ("--max-attempts", "2", "--retry-delay", "0.05")  # through <queue>.retry, a quorum queue too
    assert (await smstrio.run(*sender, *retries)).returncode == 0
    data = stats(await smstrio.run("stats", *QUORUM))
    assert (data["produced"], data["sent"] + data["failed"], data["queue_depth"]) == (500, 500, 0)
    assert data["retried"] > 0
    refusal = await _declare_classic(queue_name)
    assert "inequivalent arg 'x-queue-type'" in refusal
    if shutil.which("rabbitmqctl"):
        with trio.fail_after(60):
            listed = await trio.run_process(
                ["rabbitmqctl", "list_queues", "name", "type", "arguments", "--quiet"], capture_stdout=True
            )
        rows = {line.split("\t")[0]: line for line in listed.stdout.decode().splitlines()}
        assert rows[queue_name].split("\t")[1] == "quorum"
        assert f'{{"x-delivery-limit",{QUORUM_DELIVERY_LIMIT}}}' in rows[queue_name]
        # its companions are replicated too, so that they outlive a node of a cluster
        assert [rows[f"{queue_name}{suffix}"].split("\t")[1] for suffix in (".retry", ".dead")] == ["quorum"] * 2


async def test_queue_type_mismatch_is_one_clear_line(broker: AmqpBroker, queue_name: str, tmp_path: Path) -> None:
    """A classic queue used with --queue-type quorum: exit 3 and one line naming the mismatch and the fix."""
    assert await _declare_classic(queue_name) == ""
    result = await Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path).run("stats", *QUORUM)
    err = result.stderr.decode()
    lines = [line for line in err.splitlines() if not line.startswith("{")]
    assert result.returncode == EXIT_UNAVAILABLE
    assert len(lines) == 1, err
    assert "inequivalent arg 'x-queue-type'" in lines[0]
    assert "--queue-type" in lines[0]
