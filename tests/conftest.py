"""Fixtures and sample data shared by every tier.

Tests marked ``services`` talk to the real RabbitMQ and Redis (``SMSTRIO_TEST_AMQP_URL``,
``SMSTRIO_TEST_REDIS_URL``; local defaults). Without them such tests skip, saying why;
when ``CI`` is set they fail instead, so CI can never pass by skipping them.
Each test gets its own queue name, so its statistics keys and queues are its own.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.core import logs
from smstrio.testing import AMQP_URL, REDIS_URL, delete_queues

SNAPSHOT_KEYS = frozenset(
    {
        "queue",
        "produced",
        "sent",
        "failed",
        "invalid",
        "duplicates",
        "processed",
        "avg_time_s",
        "throughput_per_s",
        "eta_s",
        "consumers",
        "queue_depth",
        "senders",
        "updated_at",
        "service_time_s",
        "latency_s",
        "rate_1s",
        "rate_60s",
        "progress",
        "retried",
        "limits",
        "missing",
    }
)
"""The keys of ``/stats`` and ``smstrio stats`` that README.md documents."""


def stats_document(**changes: Any) -> dict[str, Any]:
    """A ``/stats`` document with plausible values, ``changes`` applied."""
    stats: dict[str, Any] = {
        "queue": "alerts",
        "produced": 10_000,
        "sent": 4_000,
        "failed": 500,
        "invalid": 1,
        "duplicates": 2,
        "retried": 3,
        "processed": 4_501,
        "avg_time_s": 0.05,
        "throughput_per_s": 500.0,
        "rate_1s": 480.0,
        "rate_60s": 300.5,
        "progress": 0.4501,
        "missing": None,
        "queue_depth": 5_499,
        "consumers": 1,
        "updated_at": 1000.0,
        "service_time_s": {"p50": 0.04, "p90": 0.09, "p95": 0.12, "p99": 0.2, "max": 1.5},
        "latency_s": {"p50": None, "p90": None, "p95": None, "p99": None, "max": None},
        "senders": [
            {
                "id": "host-7-abcd",
                "host": "host",
                "pid": 7,
                "workers": 20,
                "mean_s": 0.05,
                "failure_rate": 0.1,
                "distribution": "exponential",
                "started_at": 900.0,
                "sent": 4_000,
                "failed": 500,
                "invalid": 1,
                "retried": 3,
                "rate_limit": None,
                "fleet_rate_limit": None,
                "limit_wait_s": 0.0,
                "last_seen": 999.5,
            }
        ],
        "limits": {
            "fleet_per_s": None,
            "senders_per_s": None,
            "limit_per_s": None,
            "rate_per_s": 500.0,
            "usage": None,
            "wait_s": 0.0,
        },
    }
    stats.update(changes)
    return stats


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _missing_services() -> list[str]:
    missing = []
    if not _reachable(AMQP_URL, 5672):
        missing.append(f"RabbitMQ at {AMQP_URL}")
    if not _reachable(REDIS_URL, 6379):
        missing.append(f"Redis at {REDIS_URL}")
    return missing


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("services") is None:
        return
    missing = _missing_services()
    if not missing:
        return
    reason = f"needs {' and '.join(missing)} (start them, see README)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and this test {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    """In-process CLI runs call ``logs.setup``; give every test the loggers as they were before it."""
    loggers = [logging.getLogger(name) for name in ("smstrio", *logs.THIRD_PARTY_LOGGERS)]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture
def queue_name() -> str:
    """A queue name no other test uses."""
    return f"smstrio-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def bridge() -> AsyncIterator[None]:
    """The trio-asyncio loop the adapters need, open for the test."""
    async with open_bridge():
        yield


@pytest.fixture
async def store(bridge: None, queue_name: str) -> AsyncIterator[RedisStore]:
    """A Redis stats store for the test's queue; its keys are deleted afterwards."""
    s = await RedisStore.connect(REDIS_URL, queue_name)
    try:
        yield s
    finally:
        await s.reset()
        await s.aclose()


@pytest.fixture
async def broker(bridge: None, queue_name: str) -> AsyncIterator[AmqpBroker]:
    """A RabbitMQ connection; the test's queue and its dead-letter queue are deleted afterwards."""
    b = await AmqpBroker.connect(AMQP_URL, name="smstrio tests")
    try:
        yield b
    finally:
        await b.aclose()
        await delete_queues(queue_name)
