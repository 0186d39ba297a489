"""Integration tier: ``smstrio send --gateway http`` against ``smstrio mock-gateway`` on a free port, all as
processes, with the real RabbitMQ and Redis."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.cli import EXIT_UNAVAILABLE
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, free_port, http_get, stats

pytestmark = pytest.mark.services

SECRET = "s3cr3t-t0ken"
AUTH = {"GATEWAY_HEADERS": json.dumps({"Authorization": f"Bearer {SECRET}"})}
CAP_S = 300.0
"""A real-time cap on each test."""


@pytest.fixture
def smstrio(queue_name: str, tmp_path: Path) -> Smstrio:
    """``smstrio`` commands as processes on the test's queue."""
    return Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path / "logs")


@asynccontextmanager
async def mock_gateway(smstrio: Smstrio, *args: str) -> AsyncIterator[str]:
    """``smstrio mock-gateway ARGS`` on a free port, serving: its SMS URL; SIGTERM afterwards."""
    port = free_port()
    process = await smstrio.start("mock-gateway", "--port", str(port), *args)
    try:
        while True:
            try:
                await http_get("127.0.0.1", port, "/received")
                break
            except OSError:
                assert process.returncode is None, smstrio.log_text()
                await trio.sleep(0.1)
        yield f"http://127.0.0.1:{port}/sms"
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def received(url: str) -> dict[str, Any]:
    """The mock's ``GET /received``."""
    port = int(url.split(":")[2].split("/")[0])
    status, _, body = await http_get("127.0.0.1", port, "/received")
    assert status == 200
    data: dict[str, Any] = json.loads(body)
    return data


async def produce(smstrio: Smstrio, count: int) -> set[str]:
    """Publish ``count`` alerts; their message ids."""
    result = await smstrio.run("produce", str(count))
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["run"]
    return {f"{run}-{seq}" for seq in range(count)}


async def test_5000_messages_through_two_senders_each_received_and_counted_once(
    broker: AmqpBroker, store: RedisStore, smstrio: Smstrio
) -> None:
    """Two senders, a provider refusing 15% (429 with Retry-After 1 s, 500): every id is received, each accepted
    one counted sent once, sent + failed == 5,000, and no retry comes before its Retry-After."""
    workers = 20
    sender = ["send", "--gateway", "http", "--workers", str(workers), "--max-attempts", "3", "--retry-delay", "0.05"]
    with trio.fail_after(CAP_S):
        async with mock_gateway(
            smstrio, "--throttle-rate", "0.1", "--error-rate", "0.05", "--token", SECRET, "--seed", "1"
        ) as url:
            ids = await produce(smstrio, 5000)
            results = []

            async def one_sender() -> None:
                results.append(await smstrio.run(*sender, "--gateway-url", url, "--until-empty", **AUTH))

            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    nursery.start_soon(one_sender)
            got = await received(url)

    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    totals = (await store.view()).totals
    assert (totals.produced, totals.sent + totals.failed, totals.invalid, totals.duplicates) == (5000, 5000, 0, 0)
    assert set(got["received"]) == ids
    assert set(got["accepted"].values()) == {1}
    assert len(got["accepted"]) == totals.sent
    assert got["requests"] == totals.sent + totals.failed + totals.retried  # one request per attempt
    assert got["statuses"]["429"] > 0
    assert totals.retried > 0
    assert got["early_retries"] == 0
    assert got["most_open"] <= 2 * workers + 2  # each sender's slots, a probe at start, this test's GET
    assert await broker.queue_depth(smstrio.queue) == 0


async def test_a_provider_that_hangs_makes_timeouts_that_count_as_failures(store: RedisStore, smstrio: Smstrio) -> None:
    """Against a provider that never answers, each send fails after --gateway-timeout and the workers go on."""
    with trio.fail_after(CAP_S):
        async with mock_gateway(smstrio, "--mean", "3600", "--distribution", "constant") as url:
            ids = await produce(smstrio, 40)
            started = trio.current_time()
            argv = ["send", "--gateway", "http", "--gateway-url", url, "--gateway-timeout", "0.5", "--workers", "10"]
            result = await smstrio.run(*argv, "--until-empty")
            elapsed = trio.current_time() - started
            got = await received(url)

    assert result.returncode == 0, result.stderr[-2000:]
    totals = (await store.view()).totals
    assert (totals.sent, totals.failed) == (0, 40)
    assert got["received"] == dict.fromkeys(ids, 1)
    # 4 rounds of 10 timeouts of 0.5 s, the start and the empty-queue checks: real time, so a bound.
    assert elapsed < 30


async def test_sigterm_with_sends_hanging_exits_within_grace_and_loses_nothing(
    broker: AmqpBroker, store: RedisStore, smstrio: Smstrio
) -> None:
    """Requests hanging (timeout 60 s) when SIGTERM comes: the sender exits within --grace 1 (plus closing),
    counts nothing, and every message is back in the queue."""
    with trio.fail_after(CAP_S):
        async with mock_gateway(smstrio, "--mean", "3600", "--distribution", "constant") as url:
            await produce(smstrio, 20)
            argv = ["send", "--gateway", "http", "--gateway-url", url, "--gateway-timeout", "60", "--grace", "1"]
            process = await smstrio.start(*argv, "--workers", "10")
            while sum((await received(url))["received"].values()) < 10:  # noqa: ASYNC110 - polls another process
                await trio.sleep(0.1)
            signalled = trio.current_time()
            process.send_signal(signal.SIGTERM)
            await process.wait()
            took = trio.current_time() - signalled

    assert process.returncode == 0, smstrio.log_text()[-2000:]
    assert took < 1 + 4  # the grace, then closing connections (real time, so a bound)
    totals = (await store.view()).totals
    assert (totals.sent, totals.failed) == (0, 0)
    assert await broker.queue_depth(smstrio.queue) == 20


async def test_an_unreachable_gateway_at_start_exits_3_with_one_line(smstrio: Smstrio) -> None:
    """Nothing listening at --gateway-url: exit 3, one line on stderr naming the redacted URL."""
    url = f"http://127.0.0.1:{free_port()}/sms?key=k3y"
    result = await smstrio.run("send", "--gateway", "http", "--gateway-url", url, **AUTH)

    assert result.returncode == EXIT_UNAVAILABLE
    assert result.stderr.decode().splitlines() == [
        f"smstrio: error: cannot connect to the gateway at {url.replace('k3y', '***')}: Connection refused"
    ]


async def test_send_processes_with_an_unreachable_gateway_exits_3_without_restarting(smstrio: Smstrio) -> None:
    """send --processes 2 whose children find no gateway at start: exit 3 with one line, no restart loop."""
    url = f"http://127.0.0.1:{free_port()}/sms"
    with trio.fail_after(60):
        result = await smstrio.run("send", "--processes", "2", "--gateway", "http", "--gateway-url", url)

    assert result.returncode == EXIT_UNAVAILABLE
    assert result.stderr.decode().splitlines()[-1] == (
        "smstrio: error: a sender process exited with code 3 at start (its error is logged above)"
    )
    assert "child died; restarting" not in smstrio.log_text()


async def test_the_authorization_value_never_appears_in_logs_stats_or_errors(smstrio: Smstrio) -> None:
    """At DEBUG, with refusals, 401s and the header given by flag or environment, the secret is nowhere printed."""
    args = ["send", "--gateway", "http", "--max-attempts", "2", "--retry-delay", "0", "--until-empty"]
    with trio.fail_after(CAP_S):
        async with mock_gateway(smstrio, "--throttle-rate", "0.3", "--retry-after", "0", "--token", SECRET) as ok:
            await produce(smstrio, 100)
            by_env = await smstrio.run(*args, "--gateway-url", ok, "--log-level", "DEBUG", **AUTH)
        async with mock_gateway(smstrio, "--token", "another") as refusing:
            await produce(smstrio, 20)
            flag = f"Authorization: Bearer {SECRET}"
            by_flag = await smstrio.run(*args, "--gateway-url", refusing, "--gateway-header", flag)
        snapshot = await smstrio.run("stats")

    assert (by_env.returncode, by_flag.returncode) == (0, 0)
    printed = [by_env.stdout, by_env.stderr, by_flag.stdout, by_flag.stderr, snapshot.stdout, snapshot.stderr]
    assert all(SECRET.encode() not in text for text in printed)
    events = [json.loads(line) for line in by_flag.stderr.decode().splitlines()]
    gateway = next(e for e in events if e["event"] == "gateway")
    assert (gateway["url"], gateway["headers"]) == (refusing, ["Authorization"])
    refused = [e for e in events if e["event"] == "send refused"]
    assert (len(refused), refused[0]["level"], refused[0]["error"]) == (20, "warning", f"{refusing} answered 401")
    assert b'"event":"send refused"' in by_env.stderr  # the DEBUG lines were there to leak it, and did not
    assert stats(snapshot)["sent"] + stats(snapshot)["failed"] == 120
