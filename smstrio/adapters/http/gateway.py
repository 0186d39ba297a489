"""The HTTP gateway: each SMS is one HTTP/1.1 request to an SMS provider's API, through h11
(the protocol engine under httpx and httpcore) on Trio's own streams.

    2xx                        delivered
    429, 5xx                   GatewayError with the wait ``Retry-After`` asks for, if any (retried)
    any other status           GatewayError, permanent (the request itself is wrong: not retried)
    no answer within timeout   GatewayError (retried)
    network or protocol error  GatewayError (retried)

Connections: one per slot (the sender's workers), kept alive and replaced once closed (by either
end, or after an error or a timeout) or idle for :data:`KEEPALIVE_S`, so they never outnumber the
workers; before reusing an idle one, a slot checks that the provider has not closed it meanwhile
(its socket readable), as httpcore does. Each slot holds an ``h11.Connection`` on a Trio stream
rather than an httpx client or an httpcore connection: a slot sends one request at a time, so a
pool, a transport and their models have nothing to do, and each cost CPU: per request against the
local mock, 50 at once, 1.7-1.8 ms through httpx's transport, 0.7-1.0 through an httpcore
connection (2 cores under load), 0.33-0.35 through httpcore and 0.13 through h11 on a Trio stream
(the same minute, load 7). The timeout bounds a request's whole time as a Trio deadline, not per
phase, so a provider that trickles its answer still times out.
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

import h11
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
HTTP_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError)
"""What a failed exchange raises: the network (``ssl.SSLError`` is an ``OSError``), the stream, the protocol."""
RECEIVE_BYTES = 65536


class _Slot:
    """One connection to the provider, opened with its first request, replaced once unusable."""

    def __init__(self) -> None:
        self.stream: trio.abc.Stream | None = None
        self.http = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        """Open, between two exchanges, not idle too long, and not closed by the provider meanwhile."""
        if self.stream is None or self.http.our_state is not h11.IDLE or now - self.idle_since > KEEPALIVE_S:
            return False
        raw = self.stream.transport_stream if isinstance(self.stream, trio.SSLStream) else self.stream
        return not (isinstance(raw, trio.SocketStream) and raw.socket.is_readable())

    async def close(self) -> None:
        if self.stream is not None:
            await trio.aclose_forcefully(self.stream)
        self.stream = None
        self.http = h11.Connection(h11.CLIENT)


class HttpGateway:
    """A :class:`~smstrio.ports.Gateway` that sends each SMS as one request, at most ``slots`` at once.

    :meth:`run` checks the provider accepts connections, hands out the slots, and closes the
    connections when cancelled.
    """

    def __init__(self, settings: GatewaySettings, *, slots: int) -> None:
        if settings.url is None:
            raise ValueError("an HTTP gateway needs a URL")
        parts = urlsplit(settings.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
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
        self._idle_send, self._idle_recv = trio.open_memory_channel[_Slot](slots)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._probe()
        if self._https:
            self._ssl = ssl.create_default_context()  # one for every connection: loading the CAs takes ~50 ms
        try:
            for _ in range(self._slots):
                self._idle_send.send_nowait(_Slot())
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
                        slot = self._idle_recv.receive_nowait()
                    except trio.WouldBlock:
                        break
                    await slot.close()

    async def _probe(self) -> None:
        """Raise :class:`GatewayError` unless the provider's host accepts a TCP connection within the timeout."""
        try:
            with trio.fail_after(self._timeout):
                stream = await trio.open_tcp_stream(self._host, self._port)
        except trio.TooSlowError as exc:
            message = f"cannot connect to the gateway at {self._where}: no answer within {self._timeout:g} s"
            raise GatewayError(message) from exc
        except OSError as exc:
            raise GatewayError(f"cannot connect to the gateway at {self._where}: {_reason(exc)}") from exc
        await stream.aclose()

    async def send(self, sms: Sms) -> bool:
        body = self._template.render({"to": sms.to, "text": sms.text, "id": sms.message_id})
        slot = await self._idle_recv.receive()
        try:
            with trio.move_on_after(self._timeout) as deadline:
                try:
                    status, headers = await self._exchange(slot, body)
                except HTTP_ERRORS as exc:
                    await slot.close()
                    raise GatewayError(f"{self._where}: {_describe(exc)}") from exc
            if deadline.cancelled_caught:  # abandoned mid-exchange: the connection cannot be reused
                await slot.close()
                raise GatewayError(f"{self._where}: no answer within {self._timeout:g} s")
        finally:
            self._idle_send.send_nowait(slot)
        if 200 <= status < 300:
            return True
        if status == 429 or status >= 500:
            given = next((v.decode("latin-1") for k, v in headers if k == b"retry-after"), None)
            raise GatewayError(f"{self._where} answered {status}", retry_after=retry_after(given, time.time()))
        raise GatewayError(f"{self._where} answered {status}", permanent=True)

    async def _exchange(self, slot: _Slot, body: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        """One request and its whole response on ``slot`` (connecting first if need be): the status and headers."""
        if not slot.reusable(trio.current_time()):
            await slot.close()
            stream: trio.abc.Stream = await trio.open_tcp_stream(self._host, self._port)
            if self._ssl is not None:
                stream = trio.SSLStream(stream, self._ssl, server_hostname=self._host, https_compatible=True)
            slot.stream = stream
        assert slot.stream is not None
        http = slot.http
        request = h11.Request(
            method=self._method,
            target=self._target,
            headers=[*self._headers, (b"Content-Length", str(len(body)).encode())],
        )
        await slot.stream.send_all(http.send(request) + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage()))
        response: h11.Response | None = None
        while True:
            got = http.next_event()
            if got is h11.NEED_DATA:
                http.receive_data(bytes(await slot.stream.receive_some(RECEIVE_BYTES)))
            elif isinstance(got, h11.Response):
                response = got
            elif isinstance(got, h11.EndOfMessage):
                break
            elif isinstance(got, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the connection closed before the answer ended")
        assert response is not None
        if http.our_state is h11.MUST_CLOSE or http.their_state is h11.MUST_CLOSE:
            await slot.close()
        else:
            http.start_next_cycle()
            slot.idle_since = trio.current_time()
        return response.status_code, list(response.headers)
