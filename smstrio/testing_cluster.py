"""A private RabbitMQ cluster for the cluster tests and the failover benchmark: nodes of their own on free
127.0.0.1 ports.

Each node has its own name, ports, data and logs under a temporary directory; all share one HOME,
hence one Erlang cookie, and join the first node with ``rabbitmqctl join_cluster``. None touches the
shared RabbitMQ node (they do register with the machine's epmd, under names of their own).
Like :mod:`smstrio.testing`, nothing in the package imports this module.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio

from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import free_port

RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBITMQCTL = RABBITMQ_SERVER.with_name("rabbitmqctl")
START_TIMEOUT_S = 45.0
CTL_TIMEOUT_S = 120.0


def rabbitmq_available() -> bool:
    return RABBITMQ_SERVER.exists() and os.access(RABBITMQ_SERVER, os.X_OK)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not listening on {port} after {START_TIMEOUT_S} s")


@dataclass
class Node:
    """One node of the cluster: its name, AMQP port, environment and (while it runs) its process."""

    name: str
    port: int
    env: dict[str, str]
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self) -> None:
        """Start the node (on its data, so a restarted node rejoins) and wait until it listens."""
        log = self.directory / "server.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(RABBITMQ_SERVER)], stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        _wait_for_port(self.port, self.process, log)
        self.ctl("await_startup")

    def kill(self) -> None:
        """SIGKILL the node's whole process group (the Erlang VM and its helpers), no shutdown at all."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def ctl(self, *args: str) -> str:
        """``rabbitmqctl -n NODE ARGS``; its output, or RuntimeError with it."""
        result = subprocess.run(
            [str(RABBITMQCTL), "-n", self.name, *args], env=self.env, capture_output=True, timeout=CTL_TIMEOUT_S
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {self.name}: {result.stderr.decode()[-2000:]}")
        return result.stdout.decode()


def _node(directory: Path, home: Path, index: int) -> Node:
    port, dist = free_port(), free_port()
    node_dir = directory / f"node{index}"
    for sub in ("mnesia", "log"):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    (node_dir / "enabled_plugins").write_text("[].\n")
    (node_dir / "rabbitmq-env.conf").write_text("")
    (node_dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{port}\n")
    name = f"smstrio-cluster-{port}-{index}@localhost"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "RABBITMQ_CONF_ENV_FILE": str(node_dir / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_CONFIG_FILE": str(node_dir / "rabbitmq.conf"),
        "RABBITMQ_MNESIA_BASE": str(node_dir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(node_dir / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(node_dir / "enabled_plugins"),
    }
    return Node(name=name, port=port, env=env, directory=node_dir)


@contextmanager
def rabbitmq_cluster(directory: Path, nodes: int = 3) -> Iterator[list[Node]]:
    """``nodes`` RabbitMQ nodes joined in one cluster (guest/guest on 127.0.0.1); yields them, running.

    They start one after the other (a node joins the first with stop_app, join_cluster, start_app);
    each is stopped at the end, or killed if it does not stop.
    """
    home = directory / "home"
    home.mkdir(parents=True, exist_ok=True)
    members = [_node(directory, home, i) for i in range(nodes)]
    with ExitStack() as stack:
        for member in members:
            stack.callback(member.stop)
            member.start()
            if member is not members[0]:
                member.ctl("stop_app")
                member.ctl("join_cluster", members[0].name)
                member.ctl("start_app")
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(running(members[0])) < nodes:
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster's nodes did not all show as running")
            time.sleep(0.5)
        yield members


def running(node: Node) -> list[str]:
    """The names of the cluster's running nodes, as ``node`` sees them."""
    names: list[str] = json.loads(node.ctl("cluster_status", "--formatter", "json"))["running_nodes"]
    return names


def events(log: Path, name: str) -> list[dict[str, Any]]:
    """The JSON lines of the smstrio log ``log`` whose event is ``name``, in order."""
    lines = (line for line in log.read_text(errors="replace").splitlines() if line.startswith("{"))
    return [e for e in map(json.loads, lines) if e.get("event") == name]


async def node_of(log: Path, nodes: list[Node]) -> Node:
    """The node the process logging to ``log`` is connected to now (its last 'connected' line)."""
    with trio.fail_after(30):
        while not (connected := events(log, "connected to a broker node")):  # noqa: ASYNC110 - reads a log file
            await trio.sleep(0.05)
    port = urlsplit(connected[-1]["node"]).port
    return next(n for n in nodes if n.port == port)


async def until_total(store: RedisStore, field: str, count: int) -> None:
    """Wait until the queue's total ``field`` (``produced``, ``sent``, ...) reaches ``count``."""
    while getattr((await store.view()).totals, field) < count:  # noqa: ASYNC110 - polls Redis
        await trio.sleep(0.02)
