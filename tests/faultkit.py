"""Tools for fault tests: a cuttable TCP proxy and a private Redis (the shared helpers are in smstrio.testing).

Everything here runs on 127.0.0.1 only and never touches the shared servers beyond
the queues and keys of its own run.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import trio

from smstrio.testing import free_port


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
