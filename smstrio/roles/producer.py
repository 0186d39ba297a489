"""The producer role: generate alerts and publish them, confirmed, a window at a time.

A message counts as produced only once the broker confirmed it; each confirmed
window is added to ``produced`` before the next is published. A message the broker
refuses (nack) is published again under the same id on a new connection, up to
``PUBLISH_ATTEMPTS`` times; after a lost connection the producer reconnects with backoff and publishes
the unconfirmed messages of the window again under the same ids. Both stores and
consumers count each id once, so a repeat can never be counted twice.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import trio

from smstrio.core.config import ProducerSettings
from smstrio.core.errors import BrokerError, PublishError, StoreError
from smstrio.core.logs import event
from smstrio.core.message import encode, new_run_id, random_sms
from smstrio.nursery.retry import retry
from smstrio.ports import Broker, Outgoing, StatsStore
from smstrio.roles.redeclare import declare_again

log = logging.getLogger(__name__)

PUBLISH_ATTEMPTS = 10
"""Publishes of a refused message before the producer gives up, ``refusal_delay`` apart: about 20 s in all,
as long as a quorum queue may refuse publishes while its nodes elect a new leader after one died."""
RECONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProduceSummary:
    """The one-line summary ``smstrio produce`` ends with."""

    queue: str
    run: str
    published: int
    confirmed: int
    seconds: float
    rate_per_s: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def run_producer(
    settings: ProducerSettings,
    broker: Broker,
    store: StatsStore,
    *,
    rng: random.Random | None = None,
    progress: Callable[[int], None] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> ProduceSummary:
    """Publish ``settings.count`` alerts; hand the run id to ``task_status``; return the summary.

    ``progress``, if given, is called with the number confirmed so far after each window.
    """
    rng = rng or random.Random(settings.seed)
    queue = settings.common.queue
    run = new_run_id(rng)
    await broker.declare(queue)
    task_status.started(run)
    started = trio.current_time()
    published = confirmed = 0
    event(log, "producing", queue=queue, run=run, count=settings.count, window=settings.window)
    for first in range(0, settings.count, settings.window):
        seqs = range(first, min(first + settings.window, settings.count))
        pending = [random_sms(rng, run=run, seq=seq, created_at=time.time()) for seq in seqs]
        refusals = 0
        while pending:
            published += len(pending)
            try:
                flags = await broker.publish(queue, [Outgoing(m.message_id, encode(m)) for m in pending])
            except BrokerError as exc:
                event(
                    log,
                    "lost the broker; reconnecting",
                    level=logging.WARNING,
                    error=str(exc),
                    unconfirmed=len(pending),
                )
                await _reconnect(broker, queue, store)
                continue
            confirmed_seqs = [m.seq for m, ok in zip(pending, flags, strict=True) if ok]
            if confirmed_seqs:
                await retry(
                    functools.partial(store.add_produced, run, confirmed_seqs),
                    what="counting produced messages",
                    errors=(StoreError,),
                )
                confirmed += len(confirmed_seqs)
                if progress is not None:
                    progress(confirmed)
            pending = [m for m, ok in zip(pending, flags, strict=True) if not ok]
            if pending:
                refusals += 1
                if refusals == PUBLISH_ATTEMPTS:
                    raise PublishError(
                        f"the broker refused {len(pending)} messages {PUBLISH_ATTEMPTS} times; "
                        f"{confirmed} were confirmed"
                    )
                # A new connection too: RabbitMQ 3.10 goes on refusing every publish on a channel that
                # published to a quorum queue while it elected a new leader (seen for 20 s and more).
                event(log, "the broker refused messages", level=logging.WARNING, refused=len(pending), times=refusals)
                await trio.sleep(refusal_delay(refusals))
                await _reconnect(broker, queue, store)
    seconds = trio.current_time() - started
    return ProduceSummary(
        queue=queue,
        run=run,
        published=published,
        confirmed=confirmed,
        seconds=round(seconds, 3),
        rate_per_s=round(confirmed / seconds, 1) if seconds > 0 else 0.0,
    )


def refusal_delay(refusals: int) -> float:
    """Seconds before publishing refused messages again: 0.1 s after the first refusal, doubling up to 5 s."""
    return min(5.0, 0.1 * 2.0 ** (refusals - 1))


async def _reconnect(broker: Broker, queue: str, store: StatsStore) -> None:
    """A new connection (to the next node of a list) and the queue declared again, retried with backoff."""

    async def attempt() -> None:
        await broker.reconnect()
        await declare_again(broker, queue, store)

    await retry(attempt, what="reconnecting to the broker", errors=(BrokerError,), attempt_timeout=RECONNECT_TIMEOUT_S)
