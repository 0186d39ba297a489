"""HTTP tier: stopping the monitor's server through its shutdown trigger, on a real hypercorn."""

from __future__ import annotations

import functools
import json

import pytest
import trio
import trio.testing

from smstrio.core.stats import StatsSnapshot
from smstrio.roles.monitor import Health
from smstrio.web.app import create_app
from smstrio.web.serve import GRACEFUL_TIMEOUT_S, serve_http

TIMEOUT_S = 10


class SlowMonitor:
    """A ``MonitorView`` whose ``/healthz`` answer waits until ``release`` is set."""

    token: str | None = None
    interval = 1.0

    def __init__(self) -> None:
        self.asked = trio.Event()
        self.release = trio.Event()

    async def current(self) -> StatsSnapshot:
        raise AssertionError("these tests ask only /healthz")

    async def health(self) -> Health:
        self.asked.set()
        await self.release.wait()
        return Health(redis="ok", rabbitmq="ok")


async def _serve(nursery: trio.Nursery, monitor: SlowMonitor, stopping: trio.Event) -> int:
    """Start a server for ``monitor`` on a free port that stops when ``stopping`` is set; return its port."""
    serve = functools.partial(serve_http, create_app(monitor), "127.0.0.1", 0, shutdown_trigger=stopping.wait)
    (url,) = await nursery.start(serve)
    return int(url.rsplit(":", 1)[1])


async def _ask_until_closed(port: int, answers: list[bytes]) -> None:
    """GET /healthz and append everything the server sends until it closes the connection."""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        answer = b""
        while chunk := await stream.receive_some():
            answer += chunk
        answers.append(answer)


async def test_a_request_in_flight_at_the_stop_gets_its_answer() -> None:
    """After the trigger the server takes no new connection, answers the request in flight with 200, then exits."""
    monitor, stopping = SlowMonitor(), trio.Event()
    answers: list[bytes] = []
    with trio.fail_after(TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            port = await _serve(nursery, monitor, stopping)
            nursery.start_soon(_ask_until_closed, port, answers)
            await monitor.asked.wait()
            stopping.set()
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(OSError, match="all attempts to connect"):  # the listener is closed
                await trio.open_tcp_stream("127.0.0.1", port)
            monitor.release.set()
    ((head, body),) = [answer.split(b"\r\n\r\n", 1) for answer in answers]
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body) == {"ok": True, "redis": "ok", "rabbitmq": "ok"}


async def test_a_request_that_outlasts_the_graceful_timeout_is_cut() -> None:
    """A handler still running GRACEFUL_TIMEOUT_S after the trigger is cut unanswered, and the server exits then."""
    monitor, stopping = SlowMonitor(), trio.Event()
    answers: list[bytes] = []
    with trio.fail_after(TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            port = await _serve(nursery, monitor, stopping)
            nursery.start_soon(_ask_until_closed, port, answers)
            await monitor.asked.wait()
            stopping.set()
            stopped_at = trio.current_time()
    assert GRACEFUL_TIMEOUT_S <= trio.current_time() - stopped_at < GRACEFUL_TIMEOUT_S + 0.5
    assert answers == [b""]
