"""CLI tier: the ``smstrio`` command as a user runs it: a separate process, against the real services."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import AMQP_URL, REDIS_URL

TIMEOUT_S = 120


def _env(queue: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QUEUE_NAME", "MEAN_PROCESSING_TIME", "FAILURE_RATE")}
    env.update({"AMQP_URL": AMQP_URL, "REDIS_URL": REDIS_URL, "QUEUE_NAME": queue, **(extra or {})})
    return env


async def _smstrio(*args: str, queue: str, cwd: Path, env: Mapping[str, str] | None = None) -> Any:
    with trio.fail_after(TIMEOUT_S):
        return await trio.run_process(
            [sys.executable, "-m", "smstrio", *args],
            env=_env(queue, env),
            cwd=cwd,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


def _json_events(stderr: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]


@pytest.mark.services
async def test_readme_walkthrough_processes_1000_with_10_percent_failed(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """produce 1000, then send --workers 20 --mean 0.05 --failure-rate 0.1: 1000 processed, ~10% failed."""
    produced = await _smstrio("produce", "1000", queue=queue_name, cwd=tmp_path)
    assert produced.returncode == 0, produced.stderr
    summary = json.loads(produced.stdout)
    assert (summary["published"], summary["confirmed"]) == (1000, 1000)
    sent = await _smstrio(
        "send",
        "--workers",
        "20",
        "--mean",
        "0.05",
        "--failure-rate",
        "0.1",
        "--until-empty",
        queue=queue_name,
        cwd=tmp_path,
    )
    assert sent.returncode == 0, sent.stderr
    assert [e["event"] for e in _json_events(sent.stderr)][-2:] == ["queue drained", "stopped"]
    result = await _smstrio("stats", queue=queue_name, cwd=tmp_path)
    stats = json.loads(result.stdout)
    assert (stats["produced"], stats["processed"], stats["queue_depth"]) == (1000, 1000, 0)
    # An unseeded send, as the README runs it: about 10% failed and a mean near 0.05 s, never exactly.
    assert 50 <= stats["failed"] <= 150
    assert 0.04 <= stats["avg_time_s"] <= 0.06


@pytest.mark.services
async def test_four_senders_count_20000_exactly(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """Four sender processes of 50 workers at mean 0 share one queue: sent + failed == 20,000 exactly."""
    produced = await _smstrio("produce", "20000", queue=queue_name, cwd=tmp_path)
    assert produced.returncode == 0, produced.stderr
    results: list[Any] = []

    async def one_sender(seed: int) -> None:
        results.append(
            await _smstrio(
                "send",
                "--workers",
                "50",
                "--mean",
                "0",
                "--seed",
                str(seed),
                "--until-empty",
                queue=queue_name,
                cwd=tmp_path,
            )
        )

    async with trio.open_nursery() as nursery:
        for seed in range(4):
            nursery.start_soon(one_sender, seed)
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr[-500:] for r in results]
    totals = (await store.view()).totals
    assert (totals.produced, totals.sent + totals.failed, totals.invalid) == (20_000, 20_000, 0)
    per_sender = [_json_events(r.stderr)[-1] for r in results]
    assert sum(e["sent"] + e["failed"] for e in per_sender) == 20_000
    assert await broker.queue_depth(queue_name) == 0


@pytest.mark.services
async def test_sigterm_finishes_in_flight_sends_and_loses_nothing(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """SIGTERM mid-run: exit 0, in-flight sends recorded, the rest stays queued for the next sender."""
    assert (await _smstrio("produce", "60", queue=queue_name, cwd=tmp_path)).returncode == 0
    argv = [sys.executable, "-m", "smstrio", "send", "--workers", "10", "--mean", "0.5", "--distribution", "constant"]
    with trio.fail_after(TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(
                partial(trio.run_process, argv, env=_env(queue_name), cwd=tmp_path, check=False, capture_stderr=True)
            )
            while (totals := (await store.view()).totals).sent + totals.failed < 10:  # noqa: ASYNC110 - polls Redis
                await trio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
        assert process.returncode == 0
        first = (await store.view()).totals
        assert 10 <= first.sent + first.failed < 60  # how many finished before SIGTERM landed: real time
        assert first.sent + first.failed + await broker.queue_depth(queue_name) == 60
    again = await _smstrio("send", "--workers", "30", "--mean", "0", "--until-empty", queue=queue_name, cwd=tmp_path)
    assert again.returncode == 0
    totals = (await store.view()).totals
    assert (totals.sent + totals.failed, totals.duplicates) == (60, 0)


@pytest.mark.services
async def test_dotenv_file_supplies_seed_settings(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """Settings from a .env file are used when no flag is given; --log-file gets the JSON log lines."""
    (tmp_path / ".env").write_text(f"QUEUE_NAME={queue_name}\nMEAN_PROCESSING_TIME=0\nFAILURE_RATE=1\n")
    env = {k: v for k, v in _env(queue_name).items() if k != "QUEUE_NAME"}
    with trio.fail_after(TIMEOUT_S):
        for args in (["produce", "25"], ["send", "--until-empty", "--log-file", "logs/send.jsonl"]):
            result = await trio.run_process(
                [sys.executable, "-m", "smstrio", *args], env=env, cwd=tmp_path, check=False, capture_stderr=True
            )
            assert result.returncode == 0, result.stderr
    totals = (await store.view()).totals
    assert (totals.produced, totals.sent, totals.failed) == (25, 0, 25)
    logged = [json.loads(line) for line in (tmp_path / "logs" / "send.jsonl").read_text().splitlines()]
    assert {(e["role"], e["queue"]) for e in logged} == {("sender", queue_name)}
    assert logged[-1]["event"] == "stopped"
    assert logged[-1]["failed"] == 25


@pytest.mark.services
async def test_monitor_logs_json_lines_and_serves_stats(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """smstrio monitor logs a JSON stats line per interval and serves the same numbers at /stats."""
    assert (await _smstrio("produce", "30", queue=queue_name, cwd=tmp_path)).returncode == 0
    argv = [sys.executable, "-m", "smstrio", "monitor", "--interval", "0.2", "--port", "0"]
    with trio.fail_after(TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(
                partial(trio.run_process, argv, env=_env(queue_name), cwd=tmp_path, check=False, stderr=subprocess.PIPE)
            )
            events: list[dict[str, Any]] = []
            enough = trio.Event()
            nursery.start_soon(_collect_events, process.stderr, events, enough)
            await enough.wait()
            url = next(e for e in events if e["event"] == "serving")["urls"][0]
            body = await _http_get(url, "/stats")
            process.send_signal(signal.SIGINT)
    assert process.returncode == 0
    logged = next(e for e in events if e["event"] == "stats")
    assert (logged["queue"], logged["produced"], logged["queue_depth"]) == (queue_name, 30, 30)
    assert (body["produced"], body["queue_depth"], body["sent"]) == (30, 30, 0)


async def _collect_events(stream: Any, events: list[dict[str, Any]], enough: trio.Event) -> None:
    """Parse the monitor's JSON log lines until it exits; set ``enough`` once it serves and logged twice."""
    buffer = b""
    async for chunk in stream:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        events.extend(json.loads(line) for line in lines)
        names = [e["event"] for e in events]
        if "serving" in names and names.count("stats") >= 2:
            enough.set()


async def _http_get(url: str, path: str) -> Any:
    host_port = url.removeprefix("http://")
    host, port = host_port.rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n".encode())
        # Read by Content-Length: hypercorn (0.18, with quart-trio) leaves the socket open after
        # answering a Connection: close request, so reading to end-of-stream would wait forever.
        response = b""
        while b"\r\n\r\n" not in response or len(response.partition(b"\r\n\r\n")[2]) < _content_length(response):
            chunk = await stream.receive_some()
            assert chunk, "connection closed before the whole response arrived"
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    return json.loads(body)


def _content_length(response: bytes) -> int:
    head = response.partition(b"\r\n\r\n")[0].decode().lower()
    for line in head.splitlines():
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0
