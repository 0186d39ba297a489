"""TLS and credentials: rediss:// and amqps:// end to end on private servers, and clear one-line failures."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.cli import EXIT_UNAVAILABLE
from smstrio.testing import AMQP_URL, Smstrio, stats
from smstrio.testing_cluster import rabbitmq_available
from tests.tlskit import (
    PASSWORD,
    Pki,
    monitor_stats,
    redis_available,
    redis_cluster,
    tls_rabbitmq,
    tls_redis,
)

SENDER = ("send", "--workers", "20", "--mean", "0", "--failure-rate", "0.25", "--until-empty")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates of a CA, the servers, a client, and an unrelated CA."""
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def redis_port(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private Redis answering only TLS, with a password, requiring client certificates."""
    if not redis_available():
        pytest.skip("needs redis-server and redis-cli")
    with tls_redis(pki, tmp_path_factory.mktemp("redis")) as port:
        yield port


@pytest.fixture(scope="module")
def amqps_port(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private RabbitMQ node with only a TLS listener, requiring client certificates."""
    if not rabbitmq_available():
        pytest.skip("needs rabbitmq-server to start a private node")
    with tls_rabbitmq(pki, tmp_path_factory.mktemp("rabbitmq")) as port:
        yield port


def _redis_env(pki: Pki, ca: Path | None = None) -> dict[str, str]:
    return {"REDIS_CA": str(ca or pki.ca), "REDIS_CERT": str(pki.client_cert), "REDIS_KEY": str(pki.client_key)}


def _amqp_env(pki: Pki, ca: Path | None = None) -> dict[str, str]:
    return {"AMQP_CA": str(ca or pki.ca), "AMQP_CERT": str(pki.client_cert), "AMQP_KEY": str(pki.client_key)}


def _rediss(port: int, password: str = PASSWORD) -> str:
    return f"rediss://:{password}@127.0.0.1:{port}/0"


def _fails_in_one_line(result: subprocess.CompletedProcess[bytes], secret: str) -> str:
    """Exit 3, one ``smstrio: error:`` line beside the JSON log lines, no traceback, no secret; the line."""
    err = result.stderr.decode()
    lines = [line for line in err.splitlines() if not line.startswith("{")]
    assert result.returncode == EXIT_UNAVAILABLE, err
    assert len(lines) == 1, err
    assert lines[0].startswith("smstrio: error: cannot connect to")
    assert "Traceback" not in err
    assert secret not in err + result.stdout.decode()
    return lines[0]


@pytest.mark.services
async def test_produce_send_and_monitor_over_tls_redis(
    broker: AmqpBroker, queue_name: str, pki: Pki, redis_port: int, tmp_path: Path
) -> None:
    """Producer, sender and monitor work over rediss:// with a password and a client certificate: exact counts."""
    smstrio = Smstrio(queue_name, AMQP_URL, _rediss(redis_port), tmp_path, extra_env=_redis_env(pki))
    assert (await smstrio.run("produce", "200")).returncode == 0
    assert (await smstrio.run(*SENDER)).returncode == 0
    data = stats(await smstrio.run("stats"))
    assert (data["produced"], data["sent"] + data["failed"], data["queue_depth"]) == (200, 200, 0)
    body = await monitor_stats(smstrio)
    assert (body["produced"], body["sent"], body["failed"]) == (200, data["sent"], data["failed"])
    assert PASSWORD not in smstrio.log_text()


@pytest.mark.services
async def test_produce_and_send_on_a_tls_redis_cluster(
    broker: AmqpBroker, queue_name: str, pki: Pki, tmp_path: Path
) -> None:
    """A rediss+cluster:// URL with CA, client certificate and password: exact counts on a TLS-only cluster."""
    if not redis_available():
        pytest.skip("needs redis-server and redis-cli")
    with redis_cluster(tmp_path / "cluster", pki=pki) as ports:
        url = f"rediss+cluster://:{PASSWORD}@127.0.0.1:{ports[1]}"
        smstrio = Smstrio(queue_name, AMQP_URL, url, tmp_path, extra_env=_redis_env(pki))
        assert (await smstrio.run("produce", "300")).returncode == 0
        assert (await smstrio.run(*SENDER)).returncode == 0
        data = stats(await smstrio.run("stats"))
    assert (data["produced"], data["sent"] + data["failed"], data["duplicates"]) == (300, 300, 0)
    assert PASSWORD not in smstrio.log_text()


@pytest.mark.services
@pytest.mark.parametrize("wrong", ["ca", "password"])
async def test_wrong_redis_ca_or_password_fails_in_one_line(
    wrong: str, queue_name: str, pki: Pki, redis_port: int, tmp_path: Path
) -> None:
    """A Redis certificate signed by another CA, or a wrong password: exit 3, one line, no password shown."""
    password = "wrong-pw-123" if wrong == "password" else PASSWORD
    env = _redis_env(pki, pki.other_ca if wrong == "ca" else None)
    smstrio = Smstrio(queue_name, AMQP_URL, _rediss(redis_port, password), tmp_path, extra_env=env)
    line = _fails_in_one_line(await smstrio.run("stats"), password)
    assert ("CERTIFICATE_VERIFY_FAILED" if wrong == "ca" else "invalid username-password") in line


@pytest.mark.services
async def test_produce_and_send_over_amqps_and_rediss(
    queue_name: str, pki: Pki, redis_port: int, amqps_port: int, tmp_path: Path
) -> None:
    """Both servers over TLS with client certificates (a private RabbitMQ node): exact counts."""
    amqps = f"amqps://guest:guest@127.0.0.1:{amqps_port}/"
    env = _redis_env(pki) | _amqp_env(pki)
    smstrio = Smstrio(queue_name, amqps, _rediss(redis_port), tmp_path, extra_env=env)
    assert (await smstrio.run("produce", "300")).returncode == 0
    assert (await smstrio.run(*SENDER)).returncode == 0
    data = stats(await smstrio.run("stats"))
    assert (data["produced"], data["sent"] + data["failed"], data["queue_depth"]) == (300, 300, 0)


@pytest.mark.services
@pytest.mark.parametrize("wrong", ["ca", "password"])
async def test_wrong_amqp_ca_or_password_fails_in_one_line(
    wrong: str, queue_name: str, pki: Pki, redis_port: int, amqps_port: int, tmp_path: Path
) -> None:
    """A RabbitMQ certificate signed by another CA, or a wrong password: exit 3, one line, no password shown."""
    password = "wrong-pw-456" if wrong == "password" else "guest"
    amqps = f"amqps://guest:{password}@127.0.0.1:{amqps_port}/"
    env = _redis_env(pki) | _amqp_env(pki, pki.other_ca if wrong == "ca" else None)
    smstrio = Smstrio(queue_name, amqps, _rediss(redis_port), tmp_path, extra_env=env)
    line = _fails_in_one_line(await smstrio.run("stats"), f"guest:{password}")
    assert ("CERTIFICATE_VERIFY_FAILED" if wrong == "ca" else "ACCESS_REFUSED") in line
