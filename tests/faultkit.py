"""Tools for fault tests and the chaos benchmark: sender processes, a cuttable TCP proxy, a private Redis.

Everything here runs on 127.0.0.1 only and never touches the shared servers beyond
the queues and keys of its own run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

RUN_TIMEOUT_S = 120


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
    _count: int = 0

    def env(self, **overrides: str) -> dict[str, str]:
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


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to a target; :meth:`cut` drops every open connection at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0
        self.connections = 0
        self._scopes: set[trio.CancelScope] = set()

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        with trio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                async with (
                    client,
                    await trio.open_tcp_stream("127.0.0.1", self.target_port) as server,
                    trio.open_nursery() as nursery,
                ):
                    nursery.start_soon(self._pump, client, server, nursery.cancel_scope)
                    nursery.start_soon(self._pump, server, client, nursery.cancel_scope)
            except* (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                self._scopes.discard(scope)

    @staticmethod
    async def _pump(source: trio.SocketStream, sink: trio.SocketStream, scope: trio.CancelScope) -> None:
        try:
            async for chunk in source:
                await sink.send_all(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()

    def cut(self) -> int:
        """Drop every connection now (new ones are still accepted); return how many."""
        scopes = list(self._scopes)
        for scope in scopes:
            scope.cancel()
        self.cuts += 1
        return len(scopes)


class PrivateRedis:
    """A ``redis-server`` of the test's own on a free port, persisting to ``directory`` (AOF, fsync always)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: trio.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory)]
        argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--logfile", "redis.log"]
        self.process = await trio.lowlevel.open_process(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with trio.fail_after(10):
            while True:
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", self.port)
                except OSError:
                    await trio.sleep(0.05)
                    continue
                await stream.aclose()
                return

    async def stop(self) -> None:
        """Shut down cleanly (the append-only file keeps the data)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            await self.process.wait()
        self.process = None

    async def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            await self.process.wait()
            self.process = None


def stats(result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """The JSON object ``smstrio stats`` printed."""
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    data: dict[str, Any] = json.loads(result.stdout)
    return data
