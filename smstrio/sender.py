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
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import trio

from smstrio.config import SenderSettings
from smstrio.errors import DecodeError
from smstrio.logs import bind, event
from smstrio.message import decode, parse_message_id
from smstrio.nursery.batching import next_batch
from smstrio.ports import Broker, DeadLetter, Delivery, Gateway, StatsStore
from smstrio.stats import Counted, Outcome, OutcomeRecord, SenderInfo

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
"""How often a sender announces itself."""
HEARTBEAT_TTL_S = 5.0
"""A sender not heard from for this long disappears from the statistics."""
EMPTY_CHECK_S = 0.5
"""With ``until_empty``, how often to look whether the queue and the pipeline are empty."""


@dataclass(frozen=True, slots=True)
class _Result:
    tag: int
    record: OutcomeRecord
    dead: DeadLetter | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderStatistics:
    """What one sender process has done so far."""

    received: int
    """Deliveries taken by a worker."""
    settled: int
    """Deliveries recorded and acknowledged."""
    buffered: int
    """Deliveries waiting for a free worker."""
    counted: Counted
    """Outcomes this sender counted first (duplicates: redeliveries already counted)."""


def new_sender_id() -> str:
    """``host-pid-xxxx``: unique across hosts and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


class Sender:
    """One sender process's pipeline; :func:`run_sender` creates it and hands it to its caller."""

    def __init__(self, settings: SenderSettings, broker: Broker, store: StatsStore, gateway: Gateway) -> None:
        self.settings = settings
        self.info = SenderInfo(
            id=new_sender_id(),
            host=socket.gethostname(),
            pid=os.getpid(),
            workers=settings.workers,
            mean_s=settings.mean,
            failure_rate=settings.failure_rate,
            distribution=settings.distribution.value,
            started_at=round(time.time(), 3),
        )
        self._broker = broker
        self._store = store
        self._gateway = gateway
        self._stop = trio.Event()
        self._work_scope = trio.CancelScope()
        self._received = 0
        self._settled = 0
        self._counted = Counted()
        self._buffer: trio.MemoryReceiveChannel[Delivery] | None = None

    def stop(self) -> None:
        """Ask for a graceful stop: no new deliveries, in-flight sends finish within ``grace``."""
        self._stop.set()

    def statistics(self) -> SenderStatistics:
        buffered = self._buffer.statistics().current_buffer_used if self._buffer else 0
        return SenderStatistics(
            received=self._received, settled=self._settled, buffered=buffered, counted=self._counted
        )

    async def run(self, *, task_status: trio.TaskStatus[Sender] = trio.TASK_STATUS_IGNORED) -> None:
        s = self.settings
        queue = s.common.queue
        prefetch = s.effective_prefetch
        await self._broker.declare(queue)
        # Fed by the consumer callback with send_nowait: bounded by the prefetch (see module docstring).
        deliveries_send, deliveries_recv = trio.open_memory_channel[Delivery](prefetch)
        results_send, results_recv = trio.open_memory_channel[_Result](s.workers)
        self._buffer = deliveries_recv
        async with trio.open_nursery() as background:
            background.start_soon(self._broker.watch)
            await background.start(self._heartbeat)
            async with trio.open_nursery() as pipeline:
                pipeline.start_soon(self._record, results_recv)
                pipeline.start_soon(self._work, deliveries_recv, results_send)
                consumer = await self._broker.consume(queue, prefetch, deliveries_send)
                event(log, "consuming", queue=queue, prefetch=prefetch, **self._settings_fields())
                if s.until_empty:
                    background.start_soon(self._stop_when_empty)
                task_status.started(self)
                await self._stop.wait()
                await self._broker.cancel(consumer)
                unstarted = _take_waiting(deliveries_recv)
                deliveries_send.close()
                self._work_scope.deadline = trio.current_time() + s.grace
                if unstarted:
                    await self._broker.requeue([d.tag for d in unstarted])
            background.cancel_scope.cancel()
        with trio.move_on_after(2, shield=True):
            await self._store.forget_sender(self.info.id)
        c = self._counted
        event(
            log,
            "stopped",
            settled=self._settled,
            sent=c.sent,
            failed=c.failed,
            invalid=c.invalid,
            duplicates=c.duplicates,
        )

    def _settings_fields(self) -> dict[str, Any]:
        s = self.settings
        return {
            "workers": s.workers,
            "mean_s": s.mean,
            "failure_rate": s.failure_rate,
            "distribution": s.distribution.value,
        }

    async def _work(
        self, deliveries: trio.MemoryReceiveChannel[Delivery], results: trio.MemorySendChannel[_Result]
    ) -> None:
        async with deliveries, results:
            with self._work_scope:
                async with trio.open_nursery() as workers:
                    for number in range(self.settings.workers):
                        workers.start_soon(self._worker, number, deliveries.clone(), results.clone())
            if self._work_scope.cancelled_caught:
                event(log, "grace period over; unfinished sends go back to the queue", level=logging.WARNING)

    async def _worker(
        self, number: int, deliveries: trio.MemoryReceiveChannel[Delivery], results: trio.MemorySendChannel[_Result]
    ) -> None:
        with bind(worker=number):
            async with deliveries, results:
                async for delivery in deliveries:
                    self._received += 1
                    await results.send(await self._process(delivery))

    async def _process(self, delivery: Delivery) -> _Result:
        try:
            sms = decode(delivery.body)
        except DecodeError as exc:
            run: str | None = None
            seq: int | None = None
            if delivery.message_id:
                with contextlib.suppress(DecodeError):
                    run, seq = parse_message_id(delivery.message_id)
            event(log, "invalid message", level=logging.WARNING, reason=str(exc), message_id=delivery.message_id)
            return _Result(
                delivery.tag,
                OutcomeRecord(outcome=Outcome.INVALID, run=run, seq=seq),
                DeadLetter(delivery.body, delivery.message_id, str(exc)),
            )
        started = trio.current_time()
        try:
            delivered = await self._gateway.send(sms)
        except Exception as exc:  # a gateway error is a failed send, not a crashed worker
            event(log, "gateway error", level=logging.WARNING, error=repr(exc), message_id=sms.message_id)
            delivered = False
        elapsed_us = round((trio.current_time() - started) * 1e6)
        outcome = Outcome.SENT if delivered else Outcome.FAILED
        return _Result(delivery.tag, OutcomeRecord(outcome=outcome, service_us=elapsed_us, run=sms.run, seq=sms.seq))

    async def _record(self, results: trio.MemoryReceiveChannel[_Result]) -> None:
        s = self.settings
        async with results:
            while batch := await next_batch(results, s.batch_max):
                dead = [r.dead for r in batch if r.dead is not None]
                if dead:
                    await self._broker.dead_letter(s.common.queue, dead)
                self._counted += await self._store.record([r.record for r in batch])
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
        info = replace(self.info, sent=c.sent, failed=c.failed, invalid=c.invalid, last_seen=round(time.time(), 3))
        await self._store.heartbeat(info, HEARTBEAT_TTL_S)

    async def _stop_when_empty(self) -> None:
        idle_checks = 0
        while idle_checks < 2:
            await trio.sleep(EMPTY_CHECK_S)
            st = self.statistics()
            idle = st.buffered == 0 and st.received == st.settled
            if idle and await self._broker.queue_depth(self.settings.common.queue) == 0:
                idle_checks += 1
            else:
                idle_checks = 0
        event(log, "queue drained")
        self.stop()


def _take_waiting(deliveries: trio.MemoryReceiveChannel[Delivery]) -> list[Delivery]:
    """Every delivery waiting in the channel, taken without blocking."""
    waiting = []
    while True:
        try:
            waiting.append(deliveries.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return waiting


async def run_sender(
    settings: SenderSettings,
    broker: Broker,
    store: StatsStore,
    gateway: Gateway,
    *,
    task_status: trio.TaskStatus[Sender] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a sender until ``stop()`` is called on the :class:`Sender` handed to ``task_status``."""
    sender = Sender(settings, broker, store, gateway)
    with bind(sender=sender.info.id):
        await sender.run(task_status=task_status)
