"""Tools for fault tests: a cuttable TCP proxy and a private Redis (the shared helpers are in smstrio.testing).

Everything here runs on 127.0.0.1 only and never touches the shared servers beyond
the queues and keys of its own run.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import trio

from smstrio.testing import free_port


class _Link:
    """One proxied connection; a silent one drops every byte it reads, both ways, and never closes by itself."""

    def __init__(self, scope: trio.CancelScope) -> None:
        self.scope = scope
        self.silent = False


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to a target; :meth:`cut` drops every open connection at once,
    :meth:`blackhole` makes them go silent (a pulled cable: no FIN, no RST, no byte either way)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0
        self.connections = 0
        self.abandoned: list[float] = []
        """When (Unix seconds) each silent connection was closed by its client: the client noticed."""
        self._links: set[_Link] = set()

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        with trio.CancelScope() as scope:
            link = _Link(scope)
            self._links.add(link)
            try:
                async with (
                    client,
                    await trio.open_tcp_stream("127.0.0.1", self.target_port) as server,
                    trio.open_nursery() as nursery,
                ):
                    nursery.start_soon(self._pump, client, server, link, True)
                    nursery.start_soon(self._pump, server, client, link, False)
            except* (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                self._links.discard(link)

    async def _pump(self, source: trio.SocketStream, sink: trio.SocketStream, link: _Link, from_client: bool) -> None:
        try:
            async for chunk in source:
                if not link.silent:
                    await sink.send_all(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        if link.silent and not from_client:
            await trio.sleep_forever()  # the server gave up: the client must not hear of it
        if link.silent:
            self.abandoned.append(time.time())
        link.scope.cancel()

    def cut(self) -> int:
        """Drop every connection now (new ones are still accepted); return how many."""
        links = list(self._links)
        for link in links:
            link.scope.cancel()
        self.cuts += 1
        return len(links)

    def blackhole(self) -> int:
        """Make every open connection silent from now on (new ones still pass); return how many.

        A silent connection stays open but drops what either side sends, as a pulled cable or an
        expired NAT entry would: only a heartbeat or a timeout tells the client."""
        links = [link for link in self._links if not link.silent]
        for link in links:
            link.silent = True
        return len(links)


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
