"""Console output of ``smstrio monitor``: the pure live table, and the command on a pipe and on a terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import AMQP_URL, REDIS_URL, delete_queues
from smstrio.web.console import LiveTable, ProgressBar, bar, duration, eta_s, progress_line, redraw, render
from tests.conftest import SNAPSHOT_KEYS

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _stats(**changes: Any) -> dict[str, Any]:
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
                "last_seen": 999.5,
            }
        ],
    }
    stats.update(changes)
    return stats


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, 10.998),
        ({"produced": 0, "processed": 0, "progress": None}, None),
        ({"throughput_per_s": 0.0}, None),
        ({"processed": 10_000}, 0.0),
    ],
)
def test_eta_is_what_remains_at_the_current_rate(changes: dict[str, Any], expected: float | None) -> None:
    """ETA = (produced - processed) / 5-second rate; 0 when done; unknown with nothing produced or no rate."""
    assert eta_s(_stats(**changes)) == expected


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "-"), (0.04, "0.0s"), (59.94, "59.9s"), (185.4, "3m05s"), (7620, "2h07m")]
)
def test_duration_reads_at_a_glance(seconds: float | None, text: str) -> None:
    """Durations print as seconds, minutes and seconds, or hours and minutes."""
    assert duration(seconds) == text


@pytest.mark.parametrize(("progress", "text"), [(None, "[....]"), (0.0, "[....]"), (0.5, "[##..]"), (1.7, "[####]")])
def test_bar_fills_in_proportion(progress: float | None, text: str) -> None:
    """The progress bar fills in proportion, clamped to 0..1, empty while unknown."""
    assert bar(progress, width=4) == text


def test_render_shows_every_number() -> None:
    """The table shows the counts, rates, progress with ETA, both percentile rows and the sender row."""
    lines = render(_stats())

    text = "\n".join(lines)
    assert lines[0] == "smstrio monitor  queue alerts"
    assert "[##############................] 45.0%  4,501/10,000  ETA 11.0s" in text
    assert "sent 4,000  failed 500  invalid 1  retried 3  duplicates 2" in text
    assert "depth 5,499  consumers 1  senders 1" in text
    assert "1s 480.0  5s 500.0  60s 300.5  mean send 50.0ms" in text
    assert re.search(r"^service\s+40\.0ms\s+90\.0ms\s+120\.0ms\s+200\.0ms\s+1\.500s$", text, re.M)
    assert re.search(r"^latency\s+-\s+-\s+-\s+-\s+-$", text, re.M)
    assert re.search(r"^host-7-abcd\s+20\s+50\.0ms\s+10\s+4,000\s+500\s+1\s+3\s+0\.5s ago$", text, re.M)


def test_render_without_senders_or_depth() -> None:
    """With no live sender the sender table is left out, and an unknown queue depth shows as -."""
    lines = render(_stats(senders=[], queue_depth=None, consumers=None))

    assert "depth -  consumers -  senders 0" in "\n".join(lines)
    assert not any(line.startswith("sender") for line in lines)


def test_redraw_moves_back_over_the_previous_table() -> None:
    """A redraw goes up as many lines as were drawn before, clears each line and what is left below."""
    assert redraw(["a", "b"], 0) == "a\x1b[K\nb\x1b[K\n\x1b[J"
    assert redraw(["a"], 3) == "\x1b[3Fa\x1b[K\n\x1b[J"


def test_live_table_draws_each_frame_over_the_last() -> None:
    """Each frame of the live table starts by moving up over exactly the lines of the frame before."""
    table = LiveTable()

    first = table.frame(_stats())
    second = table.frame(_stats(senders=[]))
    third = table.frame(_stats())

    assert not first.startswith("\x1b[")
    assert second.startswith(f"\x1b[{len(render(_stats()))}F")
    assert third.startswith(f"\x1b[{len(render(_stats(senders=[])))}F")


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
    assert all(f"\x1b[{len(render(_stats(senders=[])))}F" in frame for frame in frames[1:-1])
    assert f"smstrio monitor  queue {queue_name}" in ANSI.sub("", frames[0])
    assert '"event":"stats"' not in table  # the table replaces the stats log line on a terminal
    json_lines = [json.loads(line) for line in as_json.splitlines() if line.startswith('{"queue"')]
    assert len(json_lines) >= 3  # three, and any printed before SIGTERM
    assert "\x1b[" not in as_json


def test_progress_line_shows_count_share_rate_and_eta() -> None:
    """The produce progress line shows the confirmed count of the total, the share, the rate and the time left."""
    line = progress_line(4000, 10000, 0.5)
    assert line.startswith("produce [" + "#" * 12 + "." * 18 + "]")
    assert "4,000/10,000  40%" in line
    assert "8,000 msg/s" in line
    assert line.endswith("ETA 0.8s")


def test_progress_bar_redraws_in_place_at_most_every_tenth_of_a_second_and_always_at_the_end() -> None:
    """Updates closer than the throttle are skipped, the last one never is, and finish ends the line."""
    now = [0.0]
    written: list[str] = []
    progress = ProgressBar(100, written.append, lambda: now[0])
    for at, done in ((0.05, 10), (0.06, 20), (0.2, 30), (0.21, 100)):
        now[0] = at
        progress.update(done)
    progress.finish()
    assert [ANSI.sub("", w).split("]")[1].split()[0] for w in written[:-1]] == ["10/100", "30/100", "100/100"]
    assert all(w.startswith("\r") and w.endswith("\x1b[K") for w in written[:-1])
    assert written[-1] == "\n"


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
