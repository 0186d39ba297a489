"""The auditor: read a queue's ledger from the stats store and what the broker still holds."""

from __future__ import annotations

from smstrio.core.audit import Audit
from smstrio.ports import Broker, StatsStore

DEAD_LETTERS_COUNTED = 1000
"""Dead letters are counted by reading them (and putting them back): at most this many."""


async def collect_audit(queue: str, broker: Broker, store: StatsStore, *, shown: int) -> Audit:
    """The ledger of ``queue``, with the first ``shown`` missing message ids of each run.

    Declares the queues if missing, as every command does. The broker is asked first: a message
    taken and counted between the two reads then shows as waiting and counted (missing reads low
    while the queue is not drained), never as neither, which would report a just drained queue lost.
    """
    await broker.declare(queue)
    info = await broker.queue_info(queue)
    dead = await broker.dead_letters(queue, DEAD_LETTERS_COUNTED)
    runs = await store.ledger(shown)
    duplicates = (await store.view()).totals.duplicates
    return Audit(
        queue=queue,
        runs=runs,
        duplicates=duplicates,
        waiting=info.depth,
        consumers=info.consumers,
        dead_letters=len(dead),
        dead_letters_counted=DEAD_LETTERS_COUNTED,
    )
