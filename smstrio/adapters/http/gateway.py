"""The HTTP gateway: each SMS is one request to an SMS provider's API, through httpx on Trio.

    2xx                        delivered
    429, 5xx                   GatewayError with the wait ``Retry-After`` asks for, if any (retried)
    any other status           GatewayError, permanent (the request itself is wrong: not retried)
    no answer within timeout   GatewayError (retried)
    network error              GatewayError (retried)

Connections: one httpx transport per slot (the sender's workers), each keeping at most one
connection alive, so connections never outnumber the workers. One shared pool of that many
connections cost twice the CPU per request here (httpcore scans its pool on every request).
The timeout bounds a request's whole time as a Trio deadline, not per phase as httpx's own
timeouts do, so a provider that trickles its answer still times out.
"""

from __future__ import annotations

import email.utils
import logging
import os
import socket
import ssl
import time

import httpx
import trio

from smstrio.core.errors import GatewayError
from smstrio.core.gateway import GatewaySettings
from smstrio.core.logs import event
from smstrio.core.message import Sms

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 3600.0
"""The longest wait a ``Retry-After`` may impose (the longest ``--retry-delay`` too)."""
CLOSE_GRACE_S = 2.0
"""How long closing the connections may take once the sender is done."""


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait (delay-seconds, or an HTTP date after ``now``, Unix
    time), at most :data:`MAX_RETRY_AFTER_S`; ``None`` if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER_S)


async def _exchange(transport: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
    """Send ``request``, read the whole answer (so the connection can carry the next one)."""
    response = await transport.handle_async_request(request)
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


def _reason(exc: OSError) -> str:
    """Why a connect failed: the first address's reason (trio raises one error for all addresses tried)."""
    if isinstance(exc.__cause__, BaseExceptionGroup) and isinstance(exc.__cause__.exceptions[0], OSError):
        exc = exc.__cause__.exceptions[0]
    if isinstance(exc, socket.gaierror) or not exc.errno:  # a name not found: its own strerror says so
        return exc.strerror or str(exc)
    return os.strerror(exc.errno)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class HttpGateway:
    """A :class:`~smstrio.ports.Gateway` that sends each SMS as one request, at most ``slots`` at once.

    :meth:`run` checks the provider accepts connections, opens the slots and closes them when cancelled.
    """

    def __init__(self, settings: GatewaySettings, *, slots: int) -> None:
        if settings.url is None:
            raise ValueError("an HTTP gateway needs a URL")
        self._url = httpx.URL(settings.url)
        self._where = settings.redacted_url
        self._method = settings.method
        self._template = settings.template
        self._headers = httpx.Headers(list(settings.request_headers))
        self._header_names = [name for name, _ in settings.headers]
        self._timeout = settings.timeout
        self._slots = slots
        self._idle_send, self._idle_recv = trio.open_memory_channel[httpx.AsyncHTTPTransport](slots)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._probe()
        context = ssl.create_default_context()  # one for every slot: loading the CA bundle takes ~50 ms
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        transports = [httpx.AsyncHTTPTransport(verify=context, limits=one) for _ in range(self._slots)]
        try:
            for transport in transports:
                self._idle_send.send_nowait(transport)
            event(
                log,
                "gateway",
                url=self._where,
                method=self._method,
                headers=self._header_names,
                timeout_s=self._timeout,
                connections=self._slots,
            )
            task_status.started()
            await trio.sleep_forever()
        finally:
            with trio.move_on_after(CLOSE_GRACE_S, shield=True):
                for transport in transports:
                    await transport.aclose()

    async def _probe(self) -> None:
        """Raise :class:`GatewayError` unless the provider's host accepts a TCP connection within the timeout."""
        port = self._url.port or (443 if self._url.scheme == "https" else 80)
        try:
            with trio.fail_after(self._timeout):
                stream = await trio.open_tcp_stream(self._url.host, port)
        except trio.TooSlowError as exc:
            message = f"cannot connect to the gateway at {self._where}: no answer within {self._timeout:g} s"
            raise GatewayError(message) from exc
        except OSError as exc:
            raise GatewayError(f"cannot connect to the gateway at {self._where}: {_reason(exc)}") from exc
        await stream.aclose()

    async def send(self, sms: Sms) -> bool:
        body = self._template.render({"to": sms.to, "text": sms.text, "id": sms.message_id})
        request = httpx.Request(self._method, self._url, headers=self._headers, content=body)
        transport = await self._idle_recv.receive()
        with trio.move_on_after(self._timeout) as deadline:
            try:
                response = await _exchange(transport, request)
            except httpx.HTTPError as exc:
                raise GatewayError(f"{self._where}: {_describe(exc)}") from exc
            finally:
                self._idle_send.send_nowait(transport)
        if deadline.cancelled_caught:
            raise GatewayError(f"{self._where}: no answer within {self._timeout:g} s")
        status = response.status_code
        if 200 <= status < 300:
            return True
        if status == 429 or status >= 500:
            wait = retry_after(response.headers.get("retry-after"), time.time())
            raise GatewayError(f"{self._where} answered {status}", retry_after=wait)
        raise GatewayError(f"{self._where} answered {status}", permanent=True)
