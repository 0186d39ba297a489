"""The sender role: consume, simulate each send, record the outcome, then acknowledge.

Pipeline in one nursery:

    broker consumer ──deliveries──▶ N workers ──results──▶ recorder ──▶ store.record, then broker.ack

The deliveries channel is fed by the broker's consumer callback, which may only call
``send_nowait``: its buffer equals the prefetch, so the broker can never hand us more
than it holds. The recorder stores a batch of outcomes in one atomic step and only
then acknowledges the batch, so a crash between the two leads to a redelivery that
the store recognises as a duplicate.

Shutdown (``Sender.stop()``): cancel the consumer, give deliveries no worker has started
back to the queue, let workers finish what they hold within ``grace`` seconds, record
and acknowledge what finished, return. Deliveries not finished stay unacknowledged and
go back to the queue when the connection closes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from dataclasses import asdict, replace
from typing import Any

import trio

from smstrio.core.config import SenderSettings
from smstrio.core.errors import BrokerError, StoreError
from smstrio.core.logs import bind, event
from smstrio.core.stats import Counted
from smstrio.nursery.batching import next_batch
from smstrio.nursery.retry import retry
from smstrio.ports import Broker, Delivery, FleetLimiter, Gateway, StatsStore
from smstrio.roles.attempt import Result, attempt
from smstrio.roles.intake import Intake
from smstrio.roles.sender_stats import HEARTBEAT_S, HEARTBEAT_TTL_S, SenderStatistics, sender_info
from smstrio.roles.throttle import throttle_for

log = logging.getLogger(__name__)

RECORD_GRACE_S = 5.0
"""After the grace period, how long the recorder may still try to store what finished."""
EMPTY_CHECK_S = 0.5
"""With ``until_empty``, how often to look whether the queue and the pipeline are empty."""


class Sender:
    """One sender process's pipeline; :func:`run_sender` creates it and hands it to its caller."""

    def __init__(
        self,
        settings: SenderSettings,
        broker: Broker,
        store: StatsStore,
        gateway: Gateway,
        fleet: FleetLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.info = sender_info(settings)
        self._throttle = throttle_for(settings, fleet)
        self._broker = broker
        self._store = store
        self._gateway = gateway
        self._stop = trio.Event()
        self._work_scope = trio.CancelScope()
        self._record_scope = trio.CancelScope()
        self._received = 0
        self._settled = 0
        self._counted = Counted()
        self._buffer: trio.MemoryReceiveChannel[Delivery] | None = None

    def stop(self) -> None:
        """Ask for a graceful stop: no new deliveries, in-flight sends finish within ``grace``."""
        self._stop.set()

    def statistics(self) -> SenderStatistics:
        buffered = self._buffer.statistics().current_buffer_used if self._buffer else 0
        waited_us = self._throttle.statistics().waited_us if self._throttle else 0
        return SenderStatistics(
            received=self._received,
            settled=self._settled,
            buffered=buffered,
            counted=self._counted,
            limit_wait_s=round(waited_us / 1e6, 3),
        )

    async def run(self, *, task_status: trio.TaskStatus[Sender] = trio.TASK_STATUS_IGNORED) -> None:
        s = self.settings
        await self._broker.declare(s.common.queue)
        # Fed by the consumer callback with send_nowait: bounded by the prefetch (see module docstring).
        deliveries_send, deliveries_recv = trio.open_memory_channel[Delivery](s.effective_prefetch)
        results_send, results_recv = trio.open_memory_channel[Result](s.workers)
        self._buffer = deliveries_recv
        async with trio.open_nursery() as background:
            await background.start(self._gateway.run)
            await background.start(self._heartbeat)
            if s.summary_interval > 0:
                background.start_soon(self._summarize, s.summary_interval)
            async with trio.open_nursery() as pipeline:
                pipeline.start_soon(self._record, results_recv)
                pipeline.start_soon(self._work, deliveries_recv, results_send)
                await self._intake(deliveries_send, deliveries_recv, background, task_status)
            background.cancel_scope.cancel()
        with trio.move_on_after(2, shield=True), contextlib.suppress(StoreError):
            await self._store.forget_sender(self.info.id)
        event(log, "stopped", settled=self._settled, **asdict(self._counted))

    async def _intake(
        self,
        deliveries_send: trio.MemorySendChannel[Delivery],
        deliveries_recv: trio.MemoryReceiveChannel[Delivery],
        background: trio.Nursery,
        task_status: trio.TaskStatus[Sender],
    ) -> None:
        """Keep the workers fed until stopped (see :class:`Intake`), then start the grace period.

        Closing ``deliveries_send`` lets the workers finish.
        """
        s = self.settings
        intake = Intake(self._broker, s.common.queue, s.effective_prefetch, self._stop, self._store)
        async with deliveries_send:
            consumer = await intake.consume(deliveries_send)
            event(log, "consuming", prefetch=s.effective_prefetch, **self._settings_fields())
            if s.until_empty:
                background.start_soon(self._stop_when_empty)
            task_status.started(self)
            await intake.feed(consumer, deliveries_send, deliveries_recv)
            self._work_scope.deadline = trio.current_time() + s.grace
            self._record_scope.deadline = self._work_scope.deadline + RECORD_GRACE_S

    def _settings_fields(self) -> dict[str, Any]:
        s, info = self.settings, self.info
        return {
            "workers": s.workers,
            "gateway": info.gateway,
            "mean_s": info.mean_s,
            "failure_rate": info.failure_rate,
            "distribution": info.distribution,
            "rate_limit": s.rate_limit,
            "fleet_rate_limit": s.fleet_rate_limit,
        }

    async def _work(
        self, deliveries: trio.MemoryReceiveChannel[Delivery], results: trio.MemorySendChannel[Result]
    ) -> None:
        async with deliveries, results:
            with self._work_scope:
                async with trio.open_nursery() as workers:
                    for number in range(self.settings.workers):
                        workers.start_soon(self._worker, number, deliveries.clone(), results.clone())
            if self._work_scope.cancelled_caught:
                event(log, "grace period over; unfinished sends go back to the queue", level=logging.WARNING)

    async def _worker(
        self, number: int, deliveries: trio.MemoryReceiveChannel[Delivery], results: trio.MemorySendChannel[Result]
    ) -> None:
        with bind(worker=number):
            async with deliveries, results:
                if self._throttle is None:
                    async for delivery in deliveries:
                        self._received += 1
                        result = await attempt(delivery, self._gateway, self.settings)
                        try:
                            results.send_nowait(result)
                        except trio.WouldBlock:
                            await results.send(result)
                    return
                while True:  # under a limit: take a delivery only once its turn has come
                    try:
                        delivery = await self._throttle.receive(deliveries)
                        self._received += 1
                        outcome = await attempt(delivery, self._gateway, self.settings)
                        results.send_nowait(outcome)
                    except trio.EndOfChannel:
                        return
                    except trio.WouldBlock:  # the recorder is busy: wait for room
                        await results.send(outcome)

    async def _record(self, results: trio.MemoryReceiveChannel[Result]) -> None:
        """Store each batch of outcomes in one atomic step, then acknowledge the batch.

        Redis unavailable: retry the same batch with backoff; meanwhile the bounded channels
        fill up and the broker stops delivering (backpressure). Broker unavailable: the
        outcomes are stored and the acks given up; the broker redelivers those messages
        after the reconnect and the store counts them as duplicates.
        """
        s = self.settings
        # At most half the prefetch, so that a lingering batch fills up while the broker can still deliver.
        batch_max = min(s.batch_max, max(1, s.effective_prefetch // 2))
        with self._record_scope:
            async with results:
                while batch := await next_batch(results, batch_max, linger=s.batch_linger):
                    dead = [r.dead for r in batch if r.dead is not None]
                    if dead:
                        try:
                            await self._broker.dead_letter(s.common.queue, dead)
                        except BrokerError:  # not dead-lettered, so not counted: redelivered after the reconnect
                            batch = [r for r in batch if r.dead is None]
                    retries = [r.retry for r in batch if r.retry is not None]
                    if retries:
                        try:
                            await self._broker.retry_later(s.common.queue, retries)
                        except BrokerError:  # not sent back, so not counted: redelivered after the reconnect
                            batch = [r for r in batch if r.retry is None]
                    records = [r.record for r in batch]
                    self._counted += await retry(
                        functools.partial(self._store.record, records), what="storing outcomes", errors=(StoreError,)
                    )
                    with contextlib.suppress(BrokerError):
                        await self._broker.ack([r.tag for r in batch])
                    self._settled += len(batch)

    async def _heartbeat(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._beat()
        task_status.started()
        while True:
            await trio.sleep(HEARTBEAT_S)
            await self._beat()

    async def _beat(self) -> None:
        c = self._counted
        seen = round(time.time(), 3)
        waited = self.statistics().limit_wait_s
        info = replace(
            self.info,
            sent=c.sent,
            failed=c.failed,
            invalid=c.invalid,
            retried=c.retried,
            limit_wait_s=waited,
            last_seen=seen,
        )
        with contextlib.suppress(StoreError):  # the recorder reports Redis outages; the next beat will do
            await self._store.heartbeat(info, HEARTBEAT_TTL_S)

    async def _summarize(self, interval: float) -> None:
        """Every ``interval`` seconds, log what this sender did: its counts and its rate since the last line."""
        settled, at = self._settled, trio.current_time()
        while True:
            await trio.sleep(interval)
            st, now = self.statistics(), trio.current_time()
            event(
                log,
                "summary",
                settled=st.settled,
                **asdict(st.counted),
                in_flight=st.received - st.settled,
                buffered=st.buffered,
                rate_per_s=round((st.settled - settled) / (now - at), 1),
                limit_wait_s=st.limit_wait_s if self._throttle is not None else None,
            )
            settled, at = st.settled, now

    async def _stop_when_empty(self) -> None:
        idle_checks = 0
        while idle_checks < 2:
            await trio.sleep(EMPTY_CHECK_S)
            st = self.statistics()
            idle = st.buffered == 0 and st.received == st.settled
            if idle and await self._queue_empty():
                idle_checks += 1
            else:
                idle_checks = 0
        event(log, "queue drained")
        self.stop()

    async def _queue_empty(self) -> bool:
        try:
            return await self._broker.queue_depth(self.settings.common.queue) == 0
        except BrokerError:
            return False


async def run_sender(
    settings: SenderSettings,
    broker: Broker,
    store: StatsStore,
    gateway: Gateway,
    *,
    fleet: FleetLimiter | None = None,
    task_status: trio.TaskStatus[Sender] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a sender until ``stop()`` is called on the :class:`Sender` handed to ``task_status``.

    ``fleet`` shares ``settings.fleet_rate_limit`` with the queue's other senders (the stats store serves).
    """
    sender = Sender(settings, broker, store, gateway, fleet)
    with bind(sender=sender.info.id):
        await sender.run(task_status=task_status)
