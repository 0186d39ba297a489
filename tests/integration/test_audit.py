"""Integration tier: ``smstrio audit`` against the real RabbitMQ and Redis, run as processes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.core.message import parse_message_id
from smstrio.ports import Delivery
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio

pytestmark = pytest.mark.services

SENDER = ("send", "--workers", "20", "--mean", "0", "--failure-rate", "0.2", "--until-empty", "--seed", "3")


def _report(result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


async def _take_behind_our_back(broker: AmqpBroker, queue: str, count: int) -> list[str]:
    """Consume ``count`` messages and acknowledge them without recording anything; return their ids."""
    send, receive = trio.open_memory_channel[Delivery](count)  # the prefetch bounds what arrives
    consumer = await broker.consume(queue, count, send)
    taken = [await receive.receive() for _ in range(count)]
    await broker.cancel(consumer)
    await broker.ack([d.tag for d in taken])
    return [d.message_id or "" for d in taken]


async def test_a_clean_run_has_nothing_missing(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """Produced, then drained by a sender: audit counts every confirmed message, finds none missing, exits 0."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path)
    with trio.fail_after(120):
        produced = json.loads((await smstrio.run("produce", "400", "--seed", "1")).stdout)
        assert (await smstrio.run(*SENDER)).returncode == 0
        result = await smstrio.run("audit", "--json")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    report = _report(result)
    assert report["runs"] == [
        {"run": produced["run"], "confirmed": 400, "counted": 400, "missing": 0, "first_missing": []}
    ]
    assert (report["missing"], report["waiting"], report["drained"], report["dead_letters"]) == (0, 0, True, 0)


async def test_audit_names_messages_taken_behind_smstrios_back(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """Messages a stranger acked count as missing while others wait (exit 0, not final); drained, audit names
    exactly them and exits 1."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path)
    with trio.fail_after(120):
        assert (await smstrio.run("produce", "300", "--seed", "2")).returncode == 0
        taken = await _take_behind_our_back(broker, queue_name, 7)
        waiting = await smstrio.run("audit", "--json")
        assert (await smstrio.run(*SENDER)).returncode == 0
        drained = await smstrio.run("audit", "--json")
        text = await smstrio.run("audit", "--limit", "3")
    assert waiting.returncode == 0, waiting.stderr.decode()[-2000:]
    assert {k: _report(waiting)[k] for k in ("confirmed", "counted", "waiting", "missing", "drained")} == {
        "confirmed": 300,
        "counted": 0,
        "waiting": 293,
        "missing": 7,
        "drained": False,
    }
    assert drained.returncode == 1
    report = _report(drained)
    expected = sorted(taken, key=lambda message_id: parse_message_id(message_id)[1])
    assert (report["confirmed"], report["counted"], report["missing"], report["drained"]) == (300, 293, 7, True)
    assert [r["first_missing"] for r in report["runs"]] == [expected]
    assert text.returncode == 1
    lines = text.stdout.decode().splitlines()
    assert f"not counted 7: {' '.join(expected[:3])} ..." in lines[1]
    assert lines[-1] == "missing 7: the queue is drained and these messages were never counted"
