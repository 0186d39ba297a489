"""Unit tests for the adapters' TLS set-up: the files become the SSL context, bad files a usage error (no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.core.errors import BrokerError, ConfigError
from smstrio.core.urls import TlsFiles
from tests.tlskit import Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates of a CA, the servers, a client, and an unrelated CA."""
    return Pki.create(tmp_path_factory.mktemp("pki"))


async def test_tls_files_reach_aiormq(bridge: None, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CA and client certificate become the SSL context aiormq connects with."""
    seen: dict[str, Any] = {}

    async def connect(url: str, name: str, context: Any) -> None:
        seen.update(url=url, context=context)
        raise ConnectionRefusedError("stop here")

    monkeypatch.setattr("smstrio.adapters.amqp.topology.connect", connect)
    files = TlsFiles(ca=pki.ca, cert=pki.client_cert, key=pki.client_key)
    with pytest.raises(BrokerError, match="stop here"):
        await AmqpBroker.connect("amqps://u:p@127.0.0.1:1/", tls=files)
    context = seen["context"]
    assert seen["url"] == "amqps://u:p@127.0.0.1:1/?heartbeat=10"
    assert len(context.get_ca_certs()) == 1  # only our CA, not the system's
    assert context.check_hostname


async def test_unreadable_tls_file_is_a_usage_error(bridge: None, tmp_path: Path) -> None:
    """A TLS file that is not PEM raises ConfigError (exit 2) before any connection is tried, for either server."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="cannot load the TLS files for Redis"):
        await RedisStore.connect("rediss://127.0.0.1:1/0", "q", tls=TlsFiles(ca=junk))
    with pytest.raises(ConfigError, match="cannot load the TLS files for RabbitMQ"):
        await AmqpBroker.connect("amqps://127.0.0.1:1/", tls=TlsFiles(ca=junk))
