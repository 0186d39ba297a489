"""Helpers that smstrio's tests and benchmarks share: the test servers' URLs, their cleanup,
``smstrio`` commands run as processes, a bare HTTP client, a clock set by hand and a histogram factory.

Nothing in the package imports this module (an import contract in pyproject.toml says so).
Everything here runs on 127.0.0.1 only and never touches the shared servers beyond
the queues and keys of its own run.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiormq
import trio

from smstrio.adapters.bridge import cross
from smstrio.core.histogram import Histogram

AMQP_URL = os.environ.get("SMSTRIO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
"""The RabbitMQ the tests and benchmarks use: ``SMSTRIO_TEST_AMQP_URL``, or the local default."""
REDIS_URL = os.environ.get("SMSTRIO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
"""The Redis the tests and benchmarks use: ``SMSTRIO_TEST_REDIS_URL``, or the local default."""


class Clock:
    """A clock the test sets by hand, in seconds."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def histogram_of(values: Iterable[int]) -> Histogram:
    """A histogram holding ``values`` (microseconds)."""
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    return histogram


async def delete_queues(queue: str) -> None:
    """Delete ``queue``, ``queue.dead`` and ``queue.retry`` on the test broker."""

    async def delete() -> None:
        connection = await aiormq.connect(AMQP_URL)
        try:
            channel = await connection.channel()
            for name in (queue, f"{queue}.dead", f"{queue}.retry"):
                with contextlib.suppress(aiormq.exceptions.AMQPError):
                    await channel.queue_delete(name)
        finally:
            await connection.close()

    await cross(delete)


RUN_TIMEOUT_S = 120
"""The longest :meth:`Smstrio.run` waits for a command to finish."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Smstrio:
    """Runs ``smstrio`` commands as processes for one queue, logs under ``logs``."""

    queue: str
    amqp_url: str
    redis_url: str
    logs: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    _count: int = field(default=0, init=False, repr=False)

    def env(self, **overrides: str) -> dict[str, str]:
        """This process's environment with the run's URLs, queue and ``extra_env``, then ``overrides``."""
        drop = {"QUEUE_NAME", "MEAN_PROCESSING_TIME", "FAILURE_RATE", "AMQP_URL", "REDIS_URL"}
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(AMQP_URL=self.amqp_url, REDIS_URL=self.redis_url, QUEUE_NAME=self.queue, **self.extra_env)
        env.update(overrides)
        return env

    async def start(self, *args: str, **env: str) -> trio.Process:
        """Start ``smstrio ARGS`` with stdout and stderr in a numbered log file."""
        self._count += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{self._count:03d}-{args[0]}.log").open("wb")
        try:
            return await trio.lowlevel.open_process(
                [sys.executable, "-m", "smstrio", *args], env=self.env(**env), stdout=log, stderr=log, cwd=self.logs
            )
        finally:
            log.close()

    async def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
        """Run ``smstrio ARGS`` to completion (at most ``RUN_TIMEOUT_S``), capturing its output."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with trio.fail_after(RUN_TIMEOUT_S):
            return await trio.run_process(
                [sys.executable, "-m", "smstrio", *args],
                env=self.env(**env),
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                cwd=self.logs,
            )

    def log_text(self) -> str:
        """Every log file :meth:`start` wrote, in order."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))


async def kill_and_restart(
    senders: list[trio.Process],
    smstrio: Smstrio,
    sender_args: Sequence[str],
    *,
    kills: int,
    every: tuple[float, float],
    rng: random.Random,
) -> int:
    """SIGKILL a random live sender every ``every`` seconds and start a replacement; return the kills done."""
    done = 0
    while done < kills:
        await trio.sleep(rng.uniform(*every))
        live = [p for p in senders if p.returncode is None]
        if not live:
            break
        victim = rng.choice(live)
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        done += 1
        senders.append(await smstrio.start(*sender_args))
    return done


def stats(result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """The JSON object ``smstrio stats`` printed; RuntimeError with its stderr when it failed."""
    if result.returncode != 0:
        raise RuntimeError(f"smstrio stats exited {result.returncode}: {result.stderr.decode()[-2000:]}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


async def http_get(
    host: str, port: int, path: str, *, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET over a fresh connection: status, lower-cased headers, body (by its content-length).

    Raises ConnectionError when the server closes the connection before the response ends.

    The body is read to its content-length, not to EOF: hypercorn 0.18 under quart-trio 0.12
    answers ``Connection: close`` with that header but leaves the connection open.
    """
    async with await trio.open_tcp_stream(host, port) as stream:
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}Connection: close\r\n\r\n"
        await stream.send_all(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some()
            if not chunk:
                raise ConnectionError(f"connection closed before the headers ended: {data!r}")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        got = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
        while len(body) < int(got["content-length"]):
            chunk = await stream.receive_some()
            if not chunk:
                raise ConnectionError(f"connection closed before the body ended: {body!r}")
            body += chunk
    return int(status_line.split()[1]), got, body
