"""CLI tier: the console output of ``smstrio monitor`` on a pipe and on a terminal, ``produce``'s progress bar,
and the log lines on each."""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import AMQP_URL, REDIS_URL, delete_queues
from tests.conftest import SNAPSHOT_KEYS
from tests.screen import on_terminal, screen

COLUMNS, LINES = 120, 40
CONSOLE_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR) \S")
"""A console log line: time, level, event."""


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


def _terminal() -> tuple[int, int]:
    """A pseudo-terminal COLUMNS x LINES: its reading and writing ends."""
    reader, writer = os.openpty()
    fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    return reader, writer


async def _monitor_output(
    queue: str, cwd: Path, *flags: str, tty: bool, marker: bytes, stderr_too: bool = False
) -> str:
    """Run ``smstrio monitor`` with stdout (and, if ``stderr_too``, stderr) on a pipe or a terminal until it
    printed ``marker`` 4 times, then stop it."""
    argv = [sys.executable, "-m", "smstrio", "monitor", "--interval", "0.2", "--port", "0", *flags]
    reader, writer = _terminal() if tty else os.pipe()
    output = b""
    enough = trio.Event()
    with trio.fail_after(30):
        process = await trio.lowlevel.open_process(
            argv, env=_env(queue), cwd=cwd, stdout=writer, stderr=writer if stderr_too else None
        )
        os.close(writer)
        async with trio.lowlevel.FdStream(reader) as stream, trio.open_nursery() as nursery:

            async def read() -> None:
                nonlocal output
                try:
                    async for chunk in stream:
                        output += chunk
                        if output.count(marker) >= 4:
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
    """On a terminal smstrio monitor redraws one table in place, its log lines above it; --json prints JSON lines,
    and neither logs the stats line there."""
    table = await _monitor_output(queue_name, tmp_path, tty=True, marker=b"smstrio monitor", stderr_too=True)
    as_json = await _monitor_output(queue_name, tmp_path, "--json", tty=True, marker=b'{"queue"', stderr_too=True)

    rows = screen(table, columns=COLUMNS, lines=LINES)
    assert table.count("smstrio monitor") >= 4  # four frames drawn, and any drawn before SIGTERM
    assert [r for r in rows if "smstrio monitor" in r] == [f"smstrio monitor  queue {queue_name}"]
    logged = [r.split()[2:4] for r in rows if CONSOLE_LINE.match(r)]
    assert any(event == "serving" and fields.startswith('urls=["http://127.0.0.1:') for event, fields in logged)
    assert ["stopping", "gracefully"] in logged
    assert not any("Running on" in r for r in rows)  # hypercorn's own line would say what serving says
    assert "stats" not in [event for event, _ in logged]  # the table replaces the stats log line on a terminal
    json_lines = [json.loads(line) for line in as_json.splitlines() if line.startswith('{"queue"')]
    assert len(json_lines) >= 3  # three, and any printed before SIGTERM
    events = [
        line.split()[2] for line in re.sub(r"\x1b\[[0-9;]*m", "", as_json).splitlines() if CONSOLE_LINE.match(line)
    ]
    assert ("serving" in events, "stats" in events) == (True, False)  # --json on a terminal: no stats log line


async def _produce_stderr(queue: str, cwd: Path, *flags: str, tty: bool) -> str:
    """Run ``smstrio produce 3000 --window 500`` with stderr on a terminal or a pipe; return what it wrote there."""
    argv = [sys.executable, "-m", "smstrio", "produce", "3000", "--window", "500", *flags]
    reader, writer = _terminal() if tty else os.pipe()
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
    """On a terminal smstrio produce draws a progress bar up to 3,000/3,000 below console log lines (JSON ones with
    --log-format json); on a pipe it writes only JSON log lines."""
    on_terminal = screen(await _produce_stderr(queue_name, tmp_path, tty=True), columns=COLUMNS, lines=LINES)
    as_json = screen(
        await _produce_stderr(queue_name, tmp_path, "--log-format", "json", tty=True), columns=COLUMNS, lines=LINES
    )
    on_pipe = await _produce_stderr(queue_name, tmp_path, tty=False)

    for rows in (on_terminal, as_json):
        assert re.fullmatch(r"produce ━{40} 3,000/3,000 100% [\d,]+ msg/s  ETA 0\.0s", [r for r in rows if r][-1])
    logged = [r for r in on_terminal if r][:-1]
    assert len(logged) == 1  # the producing log line above the bar, nothing else
    assert CONSOLE_LINE.match(logged[0])
    assert logged[0].split()[2] == "producing"
    assert json.loads("".join([r for r in as_json if r][:-1]))["event"] == "producing"  # a line wrapped at 120
    assert "\r" not in on_pipe
    assert [json.loads(line)["event"] for line in on_pipe.splitlines()] == ["producing"]


@pytest.mark.services
async def test_produce_processes_shows_one_bar_with_the_childrens_lines_above_it(
    queue_name: str, tmp_path: Path, cleanup: None
) -> None:
    """produce --processes 2 on a terminal: one bar up to 3,000/3,000, each child's console line whole above it."""
    stderr = await _produce_stderr(queue_name, tmp_path, "--processes", "2", tty=True)
    rows = screen(stderr, columns=COLUMNS, lines=LINES)

    shown = [r for r in rows if r]
    assert re.fullmatch(r"produce ━{40} 3,000/3,000 100% [\d,]+ msg/s  ETA 0\.0s", shown[-1])
    assert len(shown) == 3  # a producing line per child, then the bar
    assert all(CONSOLE_LINE.match(r) and r.split()[2] == "producing" and "count=1500" in r for r in shown[:-1])


@pytest.mark.services
async def test_stats_draws_the_table_on_a_terminal_and_json_elsewhere(
    queue_name: str, tmp_path: Path, cleanup: None
) -> None:
    """smstrio stats on a terminal draws the monitor's table once, headed "smstrio stats"; with --json there, and on
    a pipe, it prints the /stats JSON object."""
    argv = [sys.executable, "-m", "smstrio", "stats", "--log-level", "ERROR"]
    with trio.fail_after(60):
        code, table = await trio.to_thread.run_sync(lambda: on_terminal(argv, cwd=tmp_path, env=_env(queue_name)))
        json_code, as_json = await trio.to_thread.run_sync(
            lambda: on_terminal([*argv, "--json"], cwd=tmp_path, env=_env(queue_name))
        )
        piped = await trio.run_process(argv, cwd=tmp_path, env=_env(queue_name), capture_stdout=True)

    rows = [r for r in screen(table, columns=COLUMNS, lines=LINES) if r]
    assert (code, json_code) == (0, 0)
    assert rows[:1] + [r.split()[0] for r in rows[1:5]] == [
        f"smstrio stats  queue {queue_name}",
        "progress",
        "counts",
        "queue",
        "rate/s",
    ]
    assert set(json.loads(as_json)) == set(json.loads(piped.stdout)) == SNAPSHOT_KEYS
