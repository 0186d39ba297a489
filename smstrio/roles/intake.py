"""A sender's intake: consume into the workers' channel until stopped, reconnecting after a lost connection."""

from __future__ import annotations

import logging

import trio

from smstrio.core.errors import BrokerError
from smstrio.core.logs import event
from smstrio.nursery.retry import retry
from smstrio.nursery.stopping import unless_stopped
from smstrio.ports import Broker, Delivery, StatsStore
from smstrio.roles.redeclare import declare_again

log = logging.getLogger(__name__)


class Intake:
    """What keeps one sender's workers fed: consume until stopped, and after a lost connection reconnect.

    On a loss the deliveries still waiting are dropped (the broker requeued them);
    on stop the consumer is cancelled and they are given back. A queue the broker lost
    is declared again, with a warning (see :func:`~smstrio.roles.redeclare.declare_again`,
    which reads the ledger from ``store``).
    """

    def __init__(
        self, broker: Broker, queue: str, prefetch: int, stop: trio.Event, store: StatsStore | None = None
    ) -> None:
        self._broker = broker
        self._store = store
        self._queue = queue
        self._prefetch = prefetch
        self._stop = stop

    async def consume(self, sink: trio.MemorySendChannel[Delivery]) -> str:
        """Start consuming into ``sink``; return the consumer tag."""
        return await self._broker.consume(self._queue, self._prefetch, sink)

    async def feed(
        self,
        consumer: str,
        deliveries_send: trio.MemorySendChannel[Delivery],
        deliveries_recv: trio.MemoryReceiveChannel[Delivery],
    ) -> None:
        """Until ``stop`` is set, keep ``consumer`` (or its successors after a reconnect) feeding the channel."""
        current: str | None = consumer
        while current is not None:
            lost = await self._stop_or_loss()
            if lost is None:
                await self._stop_intake(current, deliveries_send, deliveries_recv)
                return
            stale = _take_waiting(deliveries_recv)
            event(log, "lost the broker; reconnecting", level=logging.WARNING, error=str(lost), dropped=len(stale))
            current = await unless_stopped(self._stop, self._resume, deliveries_send)
            if current is not None:
                event(log, "consuming again")

    async def _stop_or_loss(self) -> BrokerError | None:
        """Wait for ``stop`` (return None) or a lost connection (return its error)."""
        lost = await unless_stopped(self._stop, self._lost)
        return None if self._stop.is_set() else lost

    async def _lost(self) -> BrokerError:
        """Wait for the connection to be lost; return the error saying so."""
        try:
            await self._broker.watch()
        except BrokerError as exc:
            return exc

    async def _resume(self, sink: trio.MemorySendChannel[Delivery]) -> str:
        """Reconnect, redeclare and consume again, retrying with backoff; return the consumer tag."""

        async def attempt() -> str:
            await self._broker.reconnect()
            await declare_again(self._broker, self._queue, self._store)
            return await self.consume(sink)

        return await retry(attempt, what="reconnecting to the broker", errors=(BrokerError,), attempt_timeout=10.0)

    async def _stop_intake(
        self,
        consumer: str,
        deliveries_send: trio.MemorySendChannel[Delivery],
        deliveries_recv: trio.MemoryReceiveChannel[Delivery],
    ) -> None:
        """Cancel the consumer and give back the deliveries no worker started."""
        try:
            await self._broker.cancel(consumer)
            unstarted = _take_waiting(deliveries_recv)
            deliveries_send.close()
            if unstarted:
                await self._broker.requeue([d.tag for d in unstarted])
        except BrokerError as exc:  # the connection went at the same time: the broker requeues them itself
            event(log, "could not give back deliveries", level=logging.WARNING, error=str(exc))


def _take_waiting(deliveries: trio.MemoryReceiveChannel[Delivery]) -> list[Delivery]:
    """Every delivery waiting in the channel, taken without blocking."""
    waiting = []
    while True:
        try:
            waiting.append(deliveries.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return waiting
