"""HTTP tier: the HTTP gateway (h11 on Trio) against the mock SMS API served on a free port, in this process."""

from __future__ import annotations

import base64
import json
import random
import ssl
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
import trio
import trustme

from smstrio.adapters.http.gateway import HttpGateway
from smstrio.core.errors import GatewayError
from smstrio.core.gateway import BodyTemplate, GatewaySettings, MockGatewaySettings
from smstrio.core.message import Sms, random_sms
from smstrio.testing import free_port
from smstrio.web.mockgateway import Answer, MockGateway, serve_mock_gateway

CAP_S = 30.0
"""A real-time cap on each test."""
TOKEN = "s3cr3t-t0ken"


def _sms(seq: int) -> Sms:
    return random_sms(random.Random(seq), run="0123456789ab", seq=seq, created_at=0.0)


def _gateway(url: str, *, slots: int = 4, **changes: Any) -> HttpGateway:
    fields: dict[str, Any] = {"kind": "http", "url": url, "headers": (("Authorization", f"Bearer {TOKEN}"),)}
    fields.update(changes)
    return HttpGateway(GatewaySettings(**fields), slots=slots)


async def _serve(nursery: trio.Nursery, mock: MockGateway) -> str:
    urls: list[str] = await nursery.start(serve_mock_gateway, mock)
    return urls[0]


class Recording(MockGateway):
    """The mock, remembering each request it answered: method, path, headers and body."""

    def __init__(self, settings: MockGatewaySettings) -> None:
        super().__init__(settings)
        self.requests: list[tuple[str, str, Mapping[bytes, bytes], bytes]] = []

    async def answer(self, method: str, path: str, headers: Mapping[bytes, bytes], body: bytes) -> Answer:
        self.requests.append((method, path, headers, body))
        return await super().answer(method, path, headers, body)


async def test_each_send_is_one_request_with_the_template_body_and_the_headers() -> None:
    """A send is one request: the method, the URL's path and query, the filled template as JSON, the headers given."""
    mock = Recording(MockGatewaySettings(port=0, token=TOKEN))
    template = BodyTemplate.parse('{"id": "{id}", "sms": {"dest": "{to}", "body": "{text}"}, "v": 2}')
    sms = _sms(1)
    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            url = await _serve(nursery, mock)
            gateway = _gateway(f"{url}/v1/sms?account=a1", method="PUT", template=template)
            await nursery.start(gateway.run)
            assert await gateway.send(sms) is True
            nursery.cancel_scope.cancel()

    ((method, path, headers, body),) = mock.requests
    assert (method, path) == ("PUT", "/v1/sms?account=a1")
    assert json.loads(body) == {"id": sms.message_id, "sms": {"dest": sms.to, "body": sms.text}, "v": 2}
    assert headers[b"authorization"] == f"Bearer {TOKEN}".encode()
    assert headers[b"content-type"] == b"application/json"
    assert mock.received()["accepted"] == {sms.message_id: 1}


async def test_a_password_in_the_url_is_sent_as_basic_authorization() -> None:
    """user:password@ in the URL becomes 'Authorization: Basic ...' (decoded first); Host names host and port only."""
    mock = Recording(MockGatewaySettings(port=0))
    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            url = await _serve(nursery, mock)
            gateway = _gateway(url.replace("http://", "http://ac%40me:p%3Ass@") + "/sms", headers=())
            await nursery.start(gateway.run)
            assert await gateway.send(_sms(1)) is True
            nursery.cancel_scope.cancel()

    ((_, _, headers, _),) = mock.requests
    assert headers[b"authorization"] == b"Basic " + base64.b64encode(b"ac@me:p:ss")
    assert headers[b"host"] == url.removeprefix("http://").encode()


@pytest.mark.parametrize(
    ("settings", "status", "wait", "permanent"),
    [
        (MockGatewaySettings(port=0, throttle_rate=1.0, retry_after=7), 429, 7.0, False),
        (MockGatewaySettings(port=0, error_rate=1.0), 500, None, False),
        (MockGatewaySettings(port=0, token="other"), 401, None, True),
    ],
    ids=["429", "500", "401"],
)
async def test_a_refusal_raises_gateway_error_with_its_wait_or_as_permanent(
    settings: MockGatewaySettings, status: int, wait: float | None, permanent: bool
) -> None:
    """429 and 5xx raise GatewayError with the Retry-After wait (if any); another 4xx raises it permanent."""
    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            url = await _serve(nursery, MockGateway(settings))
            gateway = _gateway(f"{url}/sms")
            await nursery.start(gateway.run)
            with pytest.raises(GatewayError) as info:
                await gateway.send(_sms(1))
            nursery.cancel_scope.cancel()

    assert str(info.value) == f"{url}/sms answered {status}"
    assert (info.value.retry_after, info.value.permanent) == (wait, permanent)


class FirstHangs(MockGateway):
    """The mock, never answering its first SMS request."""

    def __init__(self, settings: MockGatewaySettings) -> None:
        super().__init__(settings)
        self._hung = False

    async def answer(self, method: str, path: str, headers: Mapping[bytes, bytes], body: bytes) -> Answer:
        if method != "GET" and not self._hung:
            self._hung = True
            await trio.sleep_forever()
        return await super().answer(method, path, headers, body)


async def test_a_provider_that_does_not_answer_times_out_and_the_connection_is_replaced() -> None:
    """No answer within the timeout raises GatewayError; the next send on the same slot opens a new connection."""
    mock = FirstHangs(MockGatewaySettings(port=0))
    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            url = await _serve(nursery, mock)
            gateway = _gateway(f"{url}/sms", slots=1, timeout=0.3)
            await nursery.start(gateway.run)
            started = trio.current_time()
            with pytest.raises(GatewayError, match=r"no answer within 0\.3 s"):
                await gateway.send(_sms(1))
            waited = trio.current_time() - started
            assert await gateway.send(_sms(2)) is True
            nursery.cancel_scope.cancel()

    assert 0.3 <= waited < 2.0  # real time: the timeout, plus however late the scheduler woke us
    assert mock.received()["connections"] == 3  # the probe at start, the abandoned one, the new one


async def test_connections_are_kept_alive_and_never_outnumber_the_slots() -> None:
    """60 sends, 30 at once through 4 slots, open 4 connections (plus the probe at start), all sent."""
    mock = MockGateway(MockGatewaySettings(port=0, mean=0.01))
    results: list[bool] = []
    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            url = await _serve(nursery, mock)
            gateway = _gateway(f"{url}/sms", slots=4)
            await nursery.start(gateway.run)
            for batch in range(2):
                async with trio.open_nursery() as senders:
                    for seq in range(batch * 30, batch * 30 + 30):
                        senders.start_soon(lambda s: _append(results, gateway.send(_sms(s))), seq)
            nursery.cancel_scope.cancel()

    assert results == [True] * 60
    assert mock.received()["connections"] == 5
    assert mock.received()["most_open"] <= 5  # 4, or 5 if the mock saw the probe close only after the slots connected
    assert len(mock.received()["accepted"]) == 60


async def _append(results: list[bool], sent: Any) -> None:
    results.append(await sent)


class HangsUp(MockGateway):
    """The mock, closing the connection instead of answering."""

    async def answer(self, method: str, path: str, headers: Mapping[bytes, bytes], body: bytes) -> Answer:
        raise trio.BrokenResourceError


async def test_a_connection_closed_without_an_answer_is_a_retryable_gateway_error() -> None:
    """The provider hanging up mid-request raises GatewayError naming h11's error, not permanent."""
    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            url = await _serve(nursery, HangsUp(MockGatewaySettings(port=0)))
            gateway = _gateway(f"{url}/sms")
            await nursery.start(gateway.run)
            with pytest.raises(GatewayError) as info:
                await gateway.send(_sms(1))
            nursery.cancel_scope.cancel()

    assert str(info.value).startswith(f"{url}/sms: RemoteProtocolError: ")
    assert (info.value.retry_after, info.value.permanent) == (None, False)


async def test_an_unreachable_provider_fails_run_before_it_starts_with_the_url_redacted() -> None:
    """run() raises GatewayError when nothing listens at the URL; the message hides the query's key."""
    url = f"http://127.0.0.1:{free_port()}/sms?key=k3y"
    with trio.fail_after(CAP_S), pytest.raises(GatewayError) as info:
        await _gateway(url).run()

    assert str(info.value) == f"cannot connect to the gateway at {url.replace('k3y', '***')}: Connection refused"


async def test_the_mock_refuses_a_body_over_its_limit_and_closes() -> None:
    """A request body over 64 KiB gets 413 and 'Connection: close'."""
    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            url = await _serve(nursery, MockGateway(MockGatewaySettings(port=0)))
            async with httpx.AsyncClient() as client:
                response = await client.post(f"{url}/sms", content=b"x" * (65 * 1024))
            nursery.cancel_scope.cancel()

    assert (response.status_code, response.headers["connection"]) == (413, "close")


async def test_an_https_provider_is_sent_to_over_tls_with_the_connection_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """https:// URLs: each send goes over TLS, verified against the CA, and one connection serves both sends."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    monkeypatch.setattr("smstrio.adapters.http.gateway.ssl.create_default_context", lambda: client)
    mock = MockGateway(MockGatewaySettings(port=0))
    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_ssl_over_tcp_listeners(0, server, host="127.0.0.1")
            nursery.start_soon(trio.serve_listeners, mock.serve_connection, listeners)
            tcp = listeners[0].transport_listener
            assert isinstance(tcp, trio.SocketListener)
            port = tcp.socket.getsockname()[1]
            gateway = _gateway(f"https://127.0.0.1:{port}/sms", slots=1)
            await nursery.start(gateway.run)
            assert [await gateway.send(_sms(seq)) for seq in range(2)] == [True, True]
            nursery.cancel_scope.cancel()

    assert mock.received()["connections"] == 2  # the probe at start (TCP only), then one TLS connection
    assert len(mock.received()["accepted"]) == 2
