"""The mock SMS API (``smstrio mock-gateway``): a provider to send against, with drawn latency,
errors, throttling and a rate limit of its own, counting what it received per message id.

GET /received   the counts so far, as JSON (see :meth:`MockGateway.received`)
any other GET   404
anything else   one SMS, whatever the method and path; its JSON body's top-level ``"id"`` names it

An SMS request is answered, in order: 401 without the token (when one is set); 400 unless the
body is a JSON object with a string ``"id"``; 429 with ``Retry-After`` (the whole seconds until
the bucket refills) when over the rate limit; then, after a drawn latency, 500 with probability
``error_rate``, 429 with ``Retry-After: retry_after`` with probability ``throttle_rate``, else 200
and the id counted accepted. A request for an id that comes before the ``Retry-After`` it was
given has passed is counted in ``early_retries``.

Plain Trio and h11 rather than quart-trio on hypercorn: a mock must not be the bottleneck of what
it measures, and hypercorn took 2.0 to 2.6 ms of CPU per request here against 0.5 ms for this.
"""

from __future__ import annotations

import collections
import hmac
import json
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import h11
import trio

from smstrio.core.distributions import sampler
from smstrio.core.gateway import MockGatewaySettings
from smstrio.core.logs import event

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
"""Largest SMS request body accepted, in bytes (413 beyond)."""
RECEIVE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """What the mock answers one request."""

    status: int
    body: dict[str, Any]
    retry_after: int | None = None


class RateLimiter:
    """A bucket of ``rate`` tokens (one second's worth) refilled at ``rate`` per second."""

    def __init__(self, rate: float, now: float) -> None:
        self._rate = rate
        self._tokens = rate
        self._at = now

    def take(self, now: float) -> float:
        """Take a token and return 0, or return the seconds until one is there (taking none)."""
        self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate


class MockGateway:
    """The mock's behaviour and counts; :meth:`serve_connection` speaks HTTP/1.1 on one connection."""

    def __init__(self, settings: MockGatewaySettings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._latency = sampler(settings.distribution, settings.mean, self._rng)
        self._limiter = RateLimiter(settings.rate_limit, trio.current_time()) if settings.rate_limit else None
        self._token = None if settings.token is None else f"Bearer {settings.token}".encode()
        self._connections = 0
        self._open = 0
        self._most_open = 0
        self._statuses: collections.Counter[int] = collections.Counter()
        self._received: collections.Counter[str] = collections.Counter()
        self._accepted: collections.Counter[str] = collections.Counter()
        self._not_before: dict[str, float] = {}
        self._early = 0

    def received(self) -> dict[str, Any]:
        """``requests`` (SMS requests), ``connections`` opened in all and ``most_open`` at once,
        ``statuses`` (answers by status), ``early_retries``, and per message id how often it was
        ``received`` and ``accepted``."""
        return {
            "requests": self._statuses.total(),
            "connections": self._connections,
            "most_open": self._most_open,
            "statuses": {str(status): n for status, n in sorted(self._statuses.items())},
            "early_retries": self._early,
            "received": dict(self._received),
            "accepted": dict(self._accepted),
        }

    async def answer(self, method: str, path: str, headers: Mapping[bytes, bytes], body: bytes) -> Answer:
        """The answer to one request (``headers`` with lower-case names)."""
        if method == "GET":
            if path.partition("?")[0] == "/received":
                return Answer(200, self.received())
            return Answer(404, {"error": "not found: GET /received, or send an SMS with any other method"})
        answer = await self._sms(headers, body)
        self._statuses[answer.status] += 1
        return answer

    async def _sms(self, headers: Mapping[bytes, bytes], body: bytes) -> Answer:
        if self._token is not None and not hmac.compare_digest(headers.get(b"authorization", b""), self._token):
            return Answer(401, {"error": "missing or wrong Authorization"})
        message_id = _message_id(body)
        if message_id is None:
            return Answer(400, {"error": 'expected a JSON object with a string "id"'})
        self._received[message_id] += 1
        now = trio.current_time()
        if now < self._not_before.get(message_id, -math.inf):
            self._early += 1
        if self._limiter is not None and (wait := self._limiter.take(now)) > 0:
            return self._throttle(message_id, now, max(1, math.ceil(wait)))
        await trio.sleep(self._latency())
        draw = self._rng.random()
        if draw < self.settings.error_rate:
            return Answer(500, {"id": message_id, "error": "drawn error"})
        if draw < self.settings.error_rate + self.settings.throttle_rate:
            return self._throttle(message_id, trio.current_time(), self.settings.retry_after)
        self._accepted[message_id] += 1
        return Answer(200, {"id": message_id, "status": "accepted"})

    def _throttle(self, message_id: str, now: float, seconds: int) -> Answer:
        self._not_before[message_id] = now + seconds
        return Answer(429, {"id": message_id, "error": "throttled"}, retry_after=seconds)

    async def serve_connection(self, stream: trio.abc.Stream) -> None:
        """Answer requests on ``stream`` until the client closes it (keep-alive)."""
        self._connections += 1
        self._open += 1
        self._most_open = max(self._most_open, self._open)
        connection = h11.Connection(h11.SERVER)
        async with stream:
            try:
                while (request := await _next_event(connection, stream)) is not None:
                    assert isinstance(request, h11.Request)
                    body = bytearray()
                    while isinstance(part := await _next_event(connection, stream), h11.Data):
                        body += part.data
                        if len(body) > MAX_BODY:
                            await _respond(connection, stream, Answer(413, {"error": "body too large"}), close=True)
                            return
                    answer = await self.answer(
                        request.method.decode(), request.target.decode(), dict(request.headers), bytes(body)
                    )
                    await _respond(connection, stream, answer)
                    if connection.our_state is h11.MUST_CLOSE:
                        return
                    connection.start_next_cycle()
            except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
                return
            finally:
                self._open -= 1


def _message_id(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    message_id = data.get("id") if isinstance(data, dict) else None
    return message_id if isinstance(message_id, str) else None


async def _next_event(connection: h11.Connection, stream: trio.abc.Stream) -> h11.Event | None:
    """The next request or body event; ``None`` once the client closed the connection."""
    while True:
        got = connection.next_event()
        if got is h11.NEED_DATA:
            connection.receive_data(bytes(await stream.receive_some(RECEIVE_BYTES)))
        elif isinstance(got, h11.ConnectionClosed):
            return None
        else:
            assert isinstance(got, h11.Event)  # PAUSED never comes: each cycle is read to its end
            return got


async def _respond(connection: h11.Connection, stream: trio.abc.Stream, answer: Answer, *, close: bool = False) -> None:
    payload = json.dumps(answer.body, separators=(",", ":")).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    if answer.retry_after is not None:
        headers.append(("Retry-After", str(answer.retry_after)))
    if close:
        headers.append(("Connection", "close"))
    data = connection.send(h11.Response(status_code=answer.status, headers=headers))
    data += connection.send(h11.Data(data=payload)) + connection.send(h11.EndOfMessage())
    await stream.send_all(data)


async def serve_mock_gateway(
    mock: MockGateway,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``mock`` at its settings' host and port until ``shutdown_trigger`` returns (requests in
    flight are cut: a mock owes them nothing); hand the bound URLs to ``task_status``."""
    listeners = await trio.open_tcp_listeners(mock.settings.port, host=mock.settings.host)
    urls = [_url(listener) for listener in listeners]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, mock.serve_connection, listeners)
        event(log, "serving", urls=urls)
        task_status.started(urls)
        await (shutdown_trigger or trio.sleep_forever)()
        nursery.cancel_scope.cancel()
    counts = mock.received()
    event(log, "stopped serving", urls=urls, requests=counts["requests"], statuses=counts["statuses"])


def _url(listener: trio.SocketListener) -> str:
    host, port = listener.socket.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
