"""CLI tier: the console output of ``smstrio monitor`` on a pipe and on a terminal, and ``produce``'s progress bar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import AMQP_URL, REDIS_URL, delete_queues
from smstrio.web.console import render
from tests.conftest import ANSI, SNAPSHOT_KEYS, stats_document


@pytest.fixture
async def cleanup(queue_name: str) -> AsyncIterator[None]:
    """Delete the queues the test's processes declared (a monitor declares them too) and their statistics."""
    yield
    async with open_bridge():
        await delete_queues(queue_name)
        store = await RedisStore.connect(REDIS_URL, queue_name)
        await store.reset()
        await store.aclose()


def _env(queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"MONITOR_TOKEN", "MONITOR_PORT"}}
    return {**env, "AMQP_URL": AMQP_URL, "REDIS_URL": REDIS_URL, "QUEUE_NAME": queue}


async def _monitor_output(queue: str, cwd: Path, *flags: str, tty: bool, marker: bytes) -> str:
    """Run ``smstrio monitor`` with stdout on a pipe or a terminal until it printed ``marker`` 3 times, then stop it."""
    argv = [sys.executable, "-m", "smstrio", "monitor", "--interval", "0.2", "--port", "0", *flags]
    reader, writer = os.openpty() if tty else os.pipe()
    output = b""
    enough = trio.Event()
    with trio.fail_after(30):
        process = await trio.lowlevel.open_process(argv, env=_env(queue), cwd=cwd, stdout=writer)
        os.close(writer)
        async with trio.lowlevel.FdStream(reader) as stream, trio.open_nursery() as nursery:

            async def read() -> None:
                nonlocal output
                try:
                    async for chunk in stream:
                        output += chunk
                        if output.count(marker) >= 3:
                            enough.set()
                except trio.BrokenResourceError:  # a terminal's reader gets EIO once the process closed it
                    pass

            nursery.start_soon(read)
            await enough.wait()
            process.terminate()
            assert await process.wait() == 0
    return output.decode()


@pytest.mark.services
async def test_monitor_prints_json_lines_on_a_pipe(queue_name: str, tmp_path: Path, cleanup: None) -> None:
    """With stdout not a terminal, smstrio monitor prints one /stats JSON object per interval, nothing else."""
    output = await _monitor_output(queue_name, tmp_path, tty=False, marker=b"\n")

    lines = [json.loads(line) for line in output.splitlines()]
    assert len(lines) >= 3  # three, and whatever else it printed in real time before SIGTERM
    assert all(set(line) == SNAPSHOT_KEYS and line["queue"] == queue_name for line in lines)
    assert [line["updated_at"] for line in lines] == sorted({line["updated_at"] for line in lines})


@pytest.mark.services
async def test_monitor_draws_a_live_table_on_a_terminal(queue_name: str, tmp_path: Path, cleanup: None) -> None:
    """On a terminal smstrio monitor redraws a table in place each interval; --json prints JSON lines there too."""
    table = await _monitor_output(queue_name, tmp_path, tty=True, marker=b"\x1b[J")
    as_json = await _monitor_output(queue_name, tmp_path, "--json", tty=True, marker=b"\n")

    frames = table.split("\x1b[J")
    assert len(frames) >= 4  # three frames and what follows the last, and any printed before SIGTERM
    assert all(f"\x1b[{len(render(stats_document(senders=[])))}F" in frame for frame in frames[1:-1])
    assert f"smstrio monitor  queue {queue_name}" in ANSI.sub("", frames[0])
    assert '"event":"stats"' not in table  # the table replaces the stats log line on a terminal
    json_lines = [json.loads(line) for line in as_json.splitlines() if line.startswith('{"queue"')]
    assert len(json_lines) >= 3  # three, and any printed before SIGTERM
    assert "\x1b[" not in as_json


async def _produce_stderr(queue: str, cwd: Path, *, tty: bool) -> str:
    """Run ``smstrio produce 3000 --window 500`` with stderr on a terminal or a pipe; return what it wrote there."""
    argv = [sys.executable, "-m", "smstrio", "produce", "3000", "--window", "500"]
    reader, writer = os.openpty() if tty else os.pipe()
    output = b""
    with trio.fail_after(30):
        process = await trio.lowlevel.open_process(
            argv, env=_env(queue), cwd=cwd, stderr=writer, stdout=subprocess.DEVNULL
        )
        os.close(writer)
        async with trio.lowlevel.FdStream(reader) as stream:
            try:
                async for chunk in stream:
                    output += chunk
            except trio.BrokenResourceError:  # a terminal's reader gets EIO once the process closed it
                pass
        assert await process.wait() == 0
    return output.decode()


@pytest.mark.services
async def test_produce_shows_a_progress_bar_on_a_terminal_only(queue_name: str, tmp_path: Path, cleanup: None) -> None:
    """On a terminal smstrio produce redraws a progress bar up to 3,000/3,000; on a pipe it writes only log lines."""
    on_terminal = await _produce_stderr(queue_name, tmp_path, tty=True)
    on_pipe = await _produce_stderr(queue_name, tmp_path, tty=False)
    frames = [f for f in on_terminal.split("\r") if f.startswith("produce [")]
    assert frames
    assert "3,000/3,000 100%" in ANSI.sub("", frames[-1])
    assert "\r" not in on_pipe
    assert all(json.loads(line)["level"] for line in on_pipe.splitlines())
