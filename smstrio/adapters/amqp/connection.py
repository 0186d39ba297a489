"""The connection under :class:`~smstrio.adapters.amqp.broker.AmqpBroker`: which node, its channels, its loss.

Nodes of a list are tried in turn, each within ``NODE_CONNECT_TIMEOUT_S``; a loss (the connection or a
channel closed, a consumer cancelled by the broker, a silent connection) wakes the watchers and cancels
the calls in flight. Delivery tags carry the connection's generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

import aiormq
import trio
from pamqp import commands as spec

from smstrio.adapters.amqp import topology
from smstrio.adapters.amqp.delivery import deliver_directly
from smstrio.adapters.bridge import cross
from smstrio.adapters.tls import client_context
from smstrio.core.config import DEFAULT_AMQP_HEARTBEAT
from smstrio.core.errors import BrokerError
from smstrio.core.logs import event
from smstrio.core.urls import TlsFiles, redact, split_urls

log = logging.getLogger(__name__)

_GENERATION_SHIFT = 40
_TAG_MASK = (1 << _GENERATION_SHIFT) - 1


NODE_CONNECT_TIMEOUT_S = 5.0
"""How long one node of a list may take to answer before the next is tried."""


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def with_heartbeat(url: str, seconds: int) -> str:
    """``url`` asking for a heartbeat every ``seconds`` (0: none), unless it names its own ``heartbeat=``."""
    parts = urlsplit(url)
    if any(p.partition("=")[0] == "heartbeat" for p in parts.query.split("&")):
        return url
    query = f"{parts.query}&heartbeat={seconds}" if parts.query else f"heartbeat={seconds}"
    return parts._replace(query=query).geturl()


class AmqpConnection:
    """One AMQP connection and its two channels, which :meth:`reconnect` replaces (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        tls: TlsFiles | None = None,
        queue_type: str = "classic",
        heartbeat: int = DEFAULT_AMQP_HEARTBEAT,
        rng: random.Random | None = None,
    ) -> None:
        nodes = list(split_urls(url))
        (rng or random.Random()).shuffle(nodes)
        self._nodes = [with_heartbeat(node, heartbeat) for node in nodes]
        self._shown = [redact(node) for node in nodes]
        self._next = 0
        """The index in ``_nodes`` of the node to try next."""
        self._url = self._shown[0]
        """The node connected to (or tried last), redacted, for messages."""
        self._name = name
        self._tls = client_context(tls, "RabbitMQ") if tls is not None and tls.given else None
        self._queue_type = queue_type
        self._connection: aiormq.abc.AbstractConnection | None = None
        self._consume_channel: aiormq.abc.AbstractChannel | None = None
        self._publish_channel: aiormq.abc.AbstractChannel | None = None
        self._generation = 0
        self._lost = trio.Event()
        self._lost_reason = "connection closed"
        self._calls: set[trio.CancelScope] = set()

    @property
    def node(self) -> str:
        """The node connected to (or tried last), its password redacted."""
        return self._url

    async def reconnect(self) -> None:
        """Connect again, to the node after the one lost first, then to the others in turn."""
        await self._close_connection()
        await self._open()

    async def _open(self) -> None:
        """Connect to the first node that answers, starting at ``_next``."""
        failures = []
        for _ in self._nodes:
            index, self._next = self._next, (self._next + 1) % len(self._nodes)
            self._url = self._shown[index]
            try:
                with trio.fail_after(NODE_CONNECT_TIMEOUT_S if len(self._nodes) > 1 else float("inf")):
                    connection = await cross(topology.connect, self._nodes[index], self._name, self._tls)
            except (*topology.ERRORS, trio.TooSlowError) as exc:
                failures.append(f"{self._url}: {_describe(exc) if isinstance(exc, topology.ERRORS) else 'timed out'}")
                continue
            self._next = (index + 1) % len(self._nodes)
            await self._open_channels(connection)
            if len(self._nodes) > 1:
                event(log, "connected to a broker node", node=self._url, failed=len(failures))
            return
        if len(failures) == 1:
            raise BrokerError(f"cannot connect to RabbitMQ at {failures[0]}")
        raise BrokerError(f"cannot connect to any of {len(failures)} RabbitMQ nodes: {'; '.join(failures)}")

    async def _open_channels(self, connection: aiormq.abc.AbstractConnection) -> None:
        self._connection = connection
        try:
            self._consume_channel = await cross(connection.channel, publisher_confirms=False)
            deliver_directly(self._consume_channel)
            self._publish_channel = await cross(connection.channel, publisher_confirms=True)
        except topology.ERRORS as exc:
            await self._close_connection()
            raise BrokerError(f"cannot open a channel on RabbitMQ at {self._url}: {_describe(exc)}") from exc
        self._generation += 1
        self._lost = trio.Event()
        on_closed = functools.partial(self._on_closed, self._generation, connection)
        for closing in (connection.closing, self._consume_channel.closing, self._publish_channel.closing):
            closing.add_done_callback(on_closed)
        self._consume_channel.on_consumer_cancel_callbacks.add(
            functools.partial(self._on_consumer_cancelled, self._generation)
        )

    def _on_closed(
        self, generation: int, connection: aiormq.abc.AbstractConnection, future: asyncio.Future[Any]
    ) -> None:
        # Runs as an asyncio callback: only synchronous Trio calls are allowed here.
        if generation != self._generation:
            return
        exc = None if future.cancelled() else future.exception()
        if getattr(connection, "is_connection_was_stuck", False):
            self._lose("the connection went silent (no frame, not even a heartbeat, for two heartbeat intervals)")
        else:
            self._lose(self._lost_reason if exc is None else _describe(exc))

    def _on_consumer_cancelled(self, generation: int, frame: spec.Basic.Cancel) -> None:
        # An asyncio callback, as _on_closed. The broker cancels a consumer whose queue was
        # deleted (or lost): taken as a lost connection, so that the reconnect finds the queue gone.
        if generation == self._generation:
            self._lose(f"the broker cancelled consumer {frame.consumer_tag} (its queue was deleted?)")

    def _lose(self, reason: str) -> None:
        """The connection is lost (synchronous: called from asyncio callbacks): wake the watchers and the calls."""
        self._lost_reason = reason
        self._lost.set()
        for scope in self._calls:
            scope.cancel()

    def _tag(self, delivery_tag: int) -> int:
        return self._generation << _GENERATION_SHIFT | delivery_tag

    def _current(self, tags: Sequence[int]) -> list[int]:
        """The AMQP delivery tags of those ``tags`` issued on the current connection."""
        return [t & _TAG_MASK for t in tags if t >> _GENERATION_SHIFT == self._generation]

    def _channels(self) -> tuple[aiormq.abc.AbstractChannel, aiormq.abc.AbstractChannel]:
        if self._consume_channel is None or self._publish_channel is None:
            raise BrokerError(f"RabbitMQ at {self._url}: not connected")
        return self._consume_channel, self._publish_channel

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One crossing, translated into :class:`BrokerError`; cancelled if the connection is lost meanwhile.

        aiormq can wait forever on a connection whose writer has died (a full write
        queue), so every call is tied to the connection it runs on.
        """
        if self._lost.is_set():
            raise BrokerError(f"lost the connection to RabbitMQ at {self._url}: {self._lost_reason}")
        with trio.CancelScope() as scope:
            self._calls.add(scope)
            try:
                return await cross(fn, *args, **kwargs)
            except aiormq.exceptions.ChannelPreconditionFailed as exc:
                raise BrokerError(
                    f"RabbitMQ at {self._url} refused to {what}: {_describe(exc)} "
                    "(a queue of that name exists with other settings: delete it, choose another --queue, "
                    "or give the --queue-type it was declared with)"
                ) from exc
            except topology.ERRORS as exc:
                raise BrokerError(f"RabbitMQ at {self._url} failed to {what}: {_describe(exc)}") from exc
            finally:
                self._calls.discard(scope)
        raise BrokerError(f"lost the connection to RabbitMQ at {self._url} while trying to {what}: {self._lost_reason}")

    async def watch(self) -> NoReturn:
        await self._lost.wait()
        raise BrokerError(f"lost the connection to RabbitMQ at {self._url}: {self._lost_reason}")

    async def aclose(self) -> None:
        self._generation += 1  # what is still watching must not take our own close for a loss
        await self._close_connection()

    async def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._consume_channel = self._publish_channel = None
        if connection is None or connection.is_closed:
            return
        with trio.move_on_after(5, shield=True), contextlib.suppress(*topology.ERRORS):
            await cross(connection.close)
