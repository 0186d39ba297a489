"""After a reconnect: declare the queue again, and say so out loud if the broker lost it.

A RabbitMQ node that crashed can come back without a durable queue declared just before the
crash, and the confirmed messages in it are gone. Declaring it again silently would hide that:
``produced`` would then stay above anything that can ever be processed. So a role that reconnects
first asks whether the queue is still there (a passive declare) and, when it is not, logs one
warning with what the ledger says was confirmed into it and not counted, then declares it.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from smstrio.core.errors import StoreError
from smstrio.core.logs import event
from smstrio.ports import Broker, StatsStore

log = logging.getLogger(__name__)

LEDGER_TIMEOUT_S = 5.0
"""How long the warning waits for the ledger's numbers before it goes without them."""

QUEUE_LOST = "the broker lost the queue; declaring it again"
"""The warning's event name."""


async def declare_again(broker: Broker, queue: str, store: StatsStore | None = None) -> None:
    """Declare ``queue`` after a reconnect; if the broker no longer has it, warn first.

    With a ``store``, the warning carries the ledger's ``confirmed`` and ``not_counted`` (confirmed and
    not counted: lost with the queue, unless waiting in ``<queue>.retry`` or in a sender's hands).
    """
    if not await broker.exists(queue):
        fields: dict[str, Any] = {}
        if store is not None:
            fields = await _ledger_fields(store)
        event(log, QUEUE_LOST, level=logging.WARNING, lost_queue=queue, **fields)
    await broker.declare(queue)


async def _ledger_fields(store: StatsStore) -> dict[str, Any]:
    with trio.move_on_after(LEDGER_TIMEOUT_S):
        try:
            runs = await store.ledger(0)
        except StoreError as exc:
            return {"ledger": f"unavailable: {exc}"}
        confirmed, counted = sum(r.confirmed for r in runs), sum(r.counted for r in runs)
        return {"confirmed": confirmed, "not_counted": confirmed - counted, "see": "smstrio audit"}
    return {"ledger": f"no answer within {LEDGER_TIMEOUT_S} s"}
