"""The HTTP gateway: each SMS is one request to an SMS provider's API, through httpcore (httpx's
HTTP engine) natively on Trio.

    2xx                        delivered
    429, 5xx                   GatewayError with the wait ``Retry-After`` asks for, if any (retried)
    any other status           GatewayError, permanent (the request itself is wrong: not retried)
    no answer within timeout   GatewayError (retried)
    network error              GatewayError (retried)

Connections: one per slot (the sender's workers), kept alive and replaced once closed, expired
or abandoned, so they never outnumber the workers. Each slot holds an
``httpcore.AsyncHTTPConnection`` rather than an httpx client or transport: a slot sends one
request at a time, so a pool has nothing to do, and skipping httpx's pool and models halved the
CPU per request here (0.7-0.9 ms against 1.7-1.8 through ``httpx.AsyncHTTPTransport``, 2 cores
under load). The timeout bounds a request's whole time as a Trio deadline, not per phase as
httpcore's own timeouts do, so a provider that trickles its answer still times out.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import os
import socket
import ssl
import time
from urllib.parse import unquote, urlsplit

import httpcore
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


def _reason(exc: OSError) -> str:
    """Why a connect failed: the first address's reason (trio raises one error for all addresses tried)."""
    if isinstance(exc.__cause__, BaseExceptionGroup) and isinstance(exc.__cause__.exceptions[0], OSError):
        exc = exc.__cause__.exceptions[0]
    if isinstance(exc, socket.gaierror) or not exc.errno:  # a name not found: its own strerror says so
        return exc.strerror or str(exc)
    return os.strerror(exc.errno)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


KEEPALIVE_S = 5.0
"""How long an idle connection is kept (httpx's default)."""
HTTP_ERRORS = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.TimeoutException,
    httpcore.UnsupportedProtocol,
    httpcore.ConnectionNotAvailable,
)
"""What httpcore raises for a failed exchange (its exceptions share no base class)."""


class HttpGateway:
    """A :class:`~smstrio.ports.Gateway` that sends each SMS as one request, at most ``slots`` at once.

    :meth:`run` checks the provider accepts connections, hands out the slots, and closes the
    connections when cancelled.
    """

    def __init__(self, settings: GatewaySettings, *, slots: int) -> None:
        if settings.url is None:
            raise ValueError("an HTTP gateway needs a URL")
        parts = urlsplit(settings.url)
        scheme, host = parts.scheme.encode(), (parts.hostname or "").encode("idna")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._origin = httpcore.Origin(scheme, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._url = httpcore.URL(scheme=scheme, host=host, port=port, target=target.encode())
        headers = [("Host", parts.netloc.rpartition("@")[2]), *settings.request_headers]
        if parts.username is not None and not any(n.lower() == "authorization" for n, _ in settings.headers):
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers.append(("Authorization", f"Basic {base64.b64encode(credentials).decode()}"))
        self._headers = [(name.encode(), value.encode()) for name, value in headers]
        self._where = settings.redacted_url
        self._method = settings.method.encode()
        self._template = settings.template
        self._header_names = [name for name, _ in settings.headers]
        self._timeout = settings.timeout
        self._slots = slots
        self._ssl: ssl.SSLContext | None = None
        self._idle_send, self._idle_recv = trio.open_memory_channel[httpcore.AsyncHTTPConnection](slots)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._probe()
        if self._origin.scheme == b"https":
            self._ssl = ssl.create_default_context()  # one for every connection: loading the CAs takes ~50 ms
        try:
            for _ in range(self._slots):
                self._idle_send.send_nowait(self._connection())
            event(
                log,
                "gateway",
                url=self._where,
                method=self._method.decode(),
                headers=self._header_names,
                timeout_s=self._timeout,
                connections=self._slots,
            )
            task_status.started()
            await trio.sleep_forever()
        finally:  # the sender cancels this once its workers are done: every slot is back
            with trio.move_on_after(CLOSE_GRACE_S, shield=True):
                while True:
                    try:
                        connection = self._idle_recv.receive_nowait()
                    except trio.WouldBlock:
                        break
                    await connection.aclose()

    def _connection(self) -> httpcore.AsyncHTTPConnection:
        """A connection not opened yet: it connects with its first request."""
        return httpcore.AsyncHTTPConnection(self._origin, ssl_context=self._ssl, keepalive_expiry=KEEPALIVE_S)

    async def _probe(self) -> None:
        """Raise :class:`GatewayError` unless the provider's host accepts a TCP connection within the timeout."""
        try:
            with trio.fail_after(self._timeout):
                stream = await trio.open_tcp_stream(self._origin.host.decode(), self._origin.port)
        except trio.TooSlowError as exc:
            message = f"cannot connect to the gateway at {self._where}: no answer within {self._timeout:g} s"
            raise GatewayError(message) from exc
        except OSError as exc:
            raise GatewayError(f"cannot connect to the gateway at {self._where}: {_reason(exc)}") from exc
        await stream.aclose()

    async def send(self, sms: Sms) -> bool:
        body = self._template.render({"to": sms.to, "text": sms.text, "id": sms.message_id})
        connection = await self._idle_recv.receive()
        if connection.is_closed() or connection.has_expired():  # closed by either end, failed, or cut mid-request
            await connection.aclose()
            connection = self._connection()
        with trio.move_on_after(self._timeout) as deadline:
            try:
                response = await connection.request(self._method, self._url, headers=self._headers, content=body)
            except HTTP_ERRORS as exc:
                raise GatewayError(f"{self._where}: {_describe(exc)}") from exc
            finally:
                self._idle_send.send_nowait(connection)
        if deadline.cancelled_caught:
            raise GatewayError(f"{self._where}: no answer within {self._timeout:g} s")
        status = response.status
        if 200 <= status < 300:
            return True
        if status == 429 or status >= 500:
            given = next((v.decode("latin-1") for k, v in response.headers if k.lower() == b"retry-after"), None)
            raise GatewayError(f"{self._where} answered {status}", retry_after=retry_after(given, time.time()))
        raise GatewayError(f"{self._where} answered {status}", permanent=True)
