"""Private servers for the TLS, quorum and cluster tests: certificates, a TLS Redis, a TLS RabbitMQ node,
a three-node Redis Cluster, and a way to read a monitor's ``/stats``.

Each server runs as the test's own process on free 127.0.0.1 ports with its files under a temporary
directory; none touches the shared RabbitMQ node or Redis.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import trustme

from smstrio.testing import Smstrio, free_port
from smstrio.testing_cluster import RABBITMQ_SERVER, START_TIMEOUT_S, _wait_for_port

PASSWORD = "s3cret-tls-pw"


@dataclass(frozen=True)
class Pki:
    """PEM files: a CA, a server certificate for 127.0.0.1/localhost, a client certificate, and an unrelated CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path

    @classmethod
    def create(cls, directory: Path) -> Pki:
        directory.mkdir(parents=True, exist_ok=True)
        ca, other = trustme.CA(), trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        client = ca.issue_cert("smstrio-client")
        pki = cls(*(directory / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key", "o.pem")))
        ca.cert_pem.write_to_path(str(pki.ca))
        server.cert_chain_pems[0].write_to_path(str(pki.server_cert))
        server.private_key_pem.write_to_path(str(pki.server_key))
        client.cert_chain_pems[0].write_to_path(str(pki.client_cert))
        client.private_key_pem.write_to_path(str(pki.client_key))
        other.cert_pem.write_to_path(str(pki.other_ca))
        return pki


@contextmanager
def running(argv: Sequence[str], port: int, log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run ``argv`` (output to ``log``) until it listens on ``port``; stop it with SIGTERM (then SIGKILL) after."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_for_port(port, process, log)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def tls_redis(pki: Pki, directory: Path) -> Iterator[int]:
    """A ``redis-server`` with only a TLS port (clients must present a certificate) and a password; yields the port."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(port), "--save", ""]
    argv += ["--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key)]
    argv += ["--tls-ca-cert-file", str(pki.ca), "--requirepass", PASSWORD, "--dir", str(directory)]
    with running(argv, port, directory / "redis.log"):
        yield port


@contextmanager
def redis_cluster(directory: Path, nodes: int = 3, pki: Pki | None = None) -> Iterator[list[int]]:
    """``nodes`` masters of a Redis Cluster with every slot assigned; yields their ports.

    With ``pki``: every node answers only TLS (clients and the cluster bus), requires client
    certificates and the password ``PASSWORD``.
    """
    ports = [_cluster_port() for _ in range(nodes)]
    client = _tls_client_args(pki)
    with _nodes(directory, ports, pki):
        create = ["redis-cli", *client, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports)]
        subprocess.run(
            [*create, "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=60
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"cluster_state:ok" not in _cluster_info(ports[0], client):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)
        yield ports


def _cluster_port() -> int:
    """A free port P with P + 10,000 free too (a cluster node's bus port), so at most 55,535."""
    while True:
        port = random.randrange(20_000, 45_000)
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def _tls_client_args(pki: Pki | None) -> list[str]:
    if pki is None:
        return []
    files = ["--cacert", str(pki.ca), "--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    return ["--tls", *files, "-a", PASSWORD, "--no-auth-warning"]


def _cluster_info(port: int, client: Sequence[str]) -> bytes:
    argv = ["redis-cli", *client, "-p", str(port), "cluster", "info"]
    return subprocess.run(argv, capture_output=True, timeout=10).stdout


@contextmanager
def _nodes(directory: Path, ports: list[int], pki: Pki | None) -> Iterator[None]:
    if not ports:
        yield
        return
    node = directory / str(ports[0])
    node.mkdir(parents=True, exist_ok=True)
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(ports[0]), "--cluster-enabled", "yes"]
    if pki is not None:
        argv[3:5] = ["--port", "0", "--tls-port", str(ports[0]), "--tls-cluster", "yes"]
        argv += ["--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key)]
        argv += ["--tls-ca-cert-file", str(pki.ca), "--requirepass", PASSWORD, "--masterauth", PASSWORD]
    argv += ["--cluster-config-file", str(node / "nodes.conf"), "--dir", str(node), "--save", "", "--appendonly", "no"]
    with running(argv, ports[0], node / "redis.log"), _nodes(directory, ports[1:], pki):
        yield


@contextmanager
def tls_rabbitmq(pki: Pki, directory: Path) -> Iterator[int]:
    """A RabbitMQ node of its own (own name, ports, data, logs and cookie) with only a TLS listener that
    requires a client certificate; user guest/guest. Yields the TLS port."""
    port, dist = free_port(), free_port()
    for sub in ("home", "mnesia", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    config = directory / "rabbitmq.conf"
    config.write_text(
        "listeners.tcp = none\n"
        f"listeners.ssl.default = 127.0.0.1:{port}\n"
        f"ssl_options.cacertfile = {pki.ca}\n"
        f"ssl_options.certfile = {pki.server_cert}\n"
        f"ssl_options.keyfile = {pki.server_key}\n"
        "ssl_options.verify = verify_peer\n"
        "ssl_options.fail_if_no_peer_cert = true\n"
    )
    (directory / "enabled_plugins").write_text("[].\n")
    (directory / "rabbitmq-env.conf").write_text("")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory / "home"),
        "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": f"smstrio-tls-{port}@localhost",
        "RABBITMQ_NODE_PORT": str(free_port()),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    with running([str(RABBITMQ_SERVER)], port, directory / "server.log", env=env):
        yield port


def redis_available() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


def get_json(url: str) -> Any:
    """GET ``url`` and parse the JSON answer (blocking: call it through ``trio.to_thread.run_sync``)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


async def monitor_stats(smstrio: Smstrio) -> Any:
    """Start ``smstrio monitor`` on a free port, return the first ``/stats`` it serves, stop it with SIGINT."""
    port = free_port()
    monitor = await smstrio.start("monitor", "--interval", "0.2", "--port", str(port))
    try:
        with trio.fail_after(30):
            while True:
                try:
                    return await trio.to_thread.run_sync(get_json, f"http://127.0.0.1:{port}/stats")
                except OSError:
                    await trio.sleep(0.2)
    finally:
        monitor.send_signal(signal.SIGINT)
        with trio.fail_after(30):
            await monitor.wait()
