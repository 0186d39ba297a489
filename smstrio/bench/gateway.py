"""The ``http`` scenario of ``smstrio bench``: one sender through the HTTP gateway against the local mock SMS API.

``smstrio mock-gateway`` (zero latency, no errors) runs as its own process on a free port; a
campaign is published, then drained by one ``smstrio send --gateway http`` process. The rate is
taken between 10% and 90% of the outcomes, as for the concurrency scenario (process start-up not
counted). Counts are exact when the store counted every message once and the mock accepted each
id exactly once. Target (issue #14): at least ``LEAST_RATE`` messages a second from one process.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from smstrio.bench.report import Result
from smstrio.bench.scenarios import Bench, Drained

LEAST_RATE = 2000.0
"""Messages a second one sender process must send through the HTTP gateway (issue #14)."""
START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def received(port: int) -> dict[str, Any]:
    """The mock's ``GET /received``: its counts per status and per message id."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET /received HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        chunks = [chunk async for chunk in stream]
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(f"the mock gateway answered {head.splitlines()[0]!r}")
    data: dict[str, Any] = json.loads(body)
    return data


@asynccontextmanager
async def mock_gateway(bench: Bench) -> AsyncIterator[tuple[int, trio.Process]]:
    """A ``smstrio mock-gateway`` process on a free port, answering: its port and its process."""
    port = _free_port()
    async with trio.open_nursery() as nursery:
        mock = await bench.start(nursery, ["smstrio", "mock-gateway", "--port", str(port)], queue="-", name="mock")
        try:
            with trio.fail_after(START_TIMEOUT_S):
                while True:
                    try:
                        await received(port)
                        break
                    except OSError:
                        await trio.sleep(0.1)
            yield port, mock
        finally:
            mock.send_signal(signal.SIGINT)


def accepted_once(before: dict[str, Any], after: dict[str, Any], messages: int) -> bool:
    """Whether the mock accepted ``messages`` new ids between two ``/received`` answers, each exactly once."""
    new = {k: v - before["accepted"].get(k, 0) for k, v in after["accepted"].items()}
    counts = [v for v in new.values() if v]
    return len(counts) == messages and set(counts) == {1}


async def drain_through(bench: Bench, port: int, name: str, messages: int, workers: int) -> Drained:
    """Publish ``messages`` to a fresh queue; drain them with one HTTP sender of ``workers`` to the mock on ``port``."""
    queue, url = bench.queue(name), f"http://127.0.0.1:{port}/sms"
    await bench.run(["smstrio", "produce", str(messages)], queue=queue, name=f"produce-{name}")
    args = ["smstrio", "send", "--gateway", "http", "--gateway-url", url, "--workers", str(workers), "--until-empty"]
    async with trio.open_nursery() as nursery:
        sender = await bench.start(nursery, args, queue=queue, name=f"send-{name}")
        return await bench.drained(queue, messages, processes=[sender], marks=(0.1, 0.9))


async def http_gateway(bench: Bench, messages: int, workers: int) -> Result:
    """The ``http`` scenario: one HTTP sender of ``workers`` draining ``messages`` through the local mock."""
    async with mock_gateway(bench) as (port, _):
        before = await received(port)
        drained = await drain_through(bench, port, "http", messages, workers)
        after = await received(port)
    exact = drained.exact and drained.totals.sent == messages and accepted_once(before, after, messages)
    rate = drained.rate(messages, 0.1, 0.9)
    return Result(
        scenario="HTTP gateway, mock at zero latency, one process",
        value=rate,
        unit="msg/s",
        detail=f"{messages:,} messages, {workers} workers; sender CPU {drained.cpu_s / messages * 1e6:,.0f} µs/msg; "
        f"exact: {exact}",
        target=f">= {LEAST_RATE:,.0f} msg/s, exact",
        met=rate >= LEAST_RATE and exact,
        extra={"exact": exact, "cpu_us_per_msg": round(drained.cpu_s / messages * 1e6, 1)},
    )
