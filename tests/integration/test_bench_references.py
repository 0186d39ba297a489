"""The references of ``smstrio bench``, run as the processes the bench runs.

``smstrio.bench.older`` (the older project's pika design) and ``smstrio.bench.plain_asyncio``
(aiormq without the bridge) each publish to and drain a queue of their own, reporting one JSON
line. Against the real services they use a queue and Redis key of the test's own, deleted after.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pika
import pytest
import redis

from smstrio.testing import AMQP_URL, REDIS_URL

MESSAGES = 300
TIMEOUT_S = 60
REFERENCES = {"older": "older", "plain_asyncio": "plain-asyncio"}
LINE_KEYS = {"reference", "scenario", "messages", "seconds", "rate_per_s"}


def _run(module: str, *args: str, amqp_url: str = AMQP_URL) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", f"smstrio.bench.{module}", args[0], "--amqp-url", amqp_url, *args[1:]]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _line(result: subprocess.CompletedProcess[str], module: str, scenario: str) -> dict[str, Any]:
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    line: dict[str, Any] = json.loads(lines[0])
    assert set(line) == LINE_KEYS
    assert (line["reference"], line["scenario"]) == (REFERENCES[module], scenario)
    if line["messages"]:
        # Real time: seconds varies, and the line rounds both numbers it prints.
        assert line["seconds"] > 0
        assert line["rate_per_s"] == pytest.approx(line["messages"] / line["seconds"], rel=0.01)
    return line


def _send_args(module: str, queue: str, expected: int) -> list[str]:
    stats = ["--redis-url", REDIS_URL, "--stats-key", f"{queue}:stats"] if module == "older" else []
    return ["send", "--queue", queue, *stats, "--expected", str(expected)]


def _depth(queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        count: int = connection.channel().queue_declare(queue=queue, passive=True).method.message_count
        return count
    finally:
        connection.close()


def _settled_depth(queue: str, at_least: int) -> int:
    """The queue's depth once it reaches ``at_least`` (the broker counts a moment after a publisher leaves)."""
    deadline = time.monotonic() + 5
    while (depth := _depth(queue)) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    return depth


@pytest.fixture
def queue(queue_name: str) -> Iterator[str]:
    """The test's queue; it and the older sender's statistics key are deleted afterwards."""
    yield queue_name
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        connection.channel().queue_delete(queue=queue_name)
    finally:
        connection.close()
    with redis.Redis.from_url(REDIS_URL) as client:
        client.delete(f"{queue_name}:stats")


@pytest.mark.services
@pytest.mark.parametrize("module", REFERENCES)
def test_publish_puts_exactly_n_and_send_drains_exactly_those(module: str, queue: str) -> None:
    """publish leaves exactly N messages in the queue; send consumes and acks exactly those N."""
    published = _run(module, "publish", "--queue", queue, "--messages", str(MESSAGES))
    assert published.returncode == 0, published.stderr
    assert _line(published, module, "publish")["messages"] == MESSAGES
    assert _settled_depth(queue, MESSAGES) == MESSAGES

    sent = _run(module, *_send_args(module, queue, MESSAGES))
    assert sent.returncode == 0, sent.stderr
    assert _line(sent, module, "send")["messages"] == MESSAGES
    assert _depth(queue) == 0


@pytest.mark.services
def test_older_sender_counts_n_in_its_json_document(queue: str) -> None:
    """The older sender's read-modify-write JSON document in Redis counts every message of a single sender."""
    assert _run("older", "publish", "--queue", queue, "--messages", str(MESSAGES)).returncode == 0
    _settled_depth(queue, MESSAGES)
    assert _run("older", *_send_args("older", queue, MESSAGES)).returncode == 0
    with redis.Redis.from_url(REDIS_URL) as client:
        document = json.loads(client.get(f"{queue}:stats") or b"{}")
    assert document["messages_sent"] == MESSAGES
    assert document["messages_failed"] == 0
    assert document["average_time"] >= 0  # real send times


@pytest.mark.services
@pytest.mark.parametrize("module", REFERENCES)
def test_send_gives_up_when_the_queue_stays_empty(module: str, queue: str) -> None:
    """send on an empty queue stops after 2 idle seconds, reports 0 messages and exits 1 with one stderr line."""
    started = time.monotonic()
    result = _run(module, *_send_args(module, queue, 5))
    assert result.returncode == 1
    assert _line(result, module, "send")["messages"] == 0
    assert result.stderr.strip() == "only 0 of 5 messages arrived (queue empty for 2 s)"
    assert 2 <= time.monotonic() - started < 15  # real time: 2 idle seconds plus start-up, which varies
