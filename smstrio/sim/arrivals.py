"""When each message of a campaign arrives, and the producer that publishes each at its instant.

Loaded at once (no ``arrivals`` in the scenario), every message arrives at the start and the
simulation publishes them with the production producer. With steady arrivals the n-th message
arrives n gaps after the start, the gaps drawn exponential of mean ``1 / rate`` (Poisson) or
exactly ``1 / rate`` apart (constant); :func:`publish_arrivals` publishes each at its instant.
The simulation and the kernel draw the same gaps from the same seed.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable

import trio

from smstrio.core.logs import event
from smstrio.core.message import encode, new_run_id, random_sms
from smstrio.core.scenario import ArrivalProcess, Arrivals
from smstrio.ports import Broker, Outgoing, StatsStore

log = logging.getLogger(__name__)


def arrival_times(n: int, arrivals: Arrivals | None, rng: random.Random) -> list[float]:
    """When each of ``n`` messages arrives, in seconds from the start, in order (all at 0 without ``arrivals``)."""
    if arrivals is None:
        return [0.0] * n
    if arrivals.process is ArrivalProcess.CONSTANT:
        return [k / arrivals.rate for k in range(1, n + 1)]
    gap = rng.expovariate
    return list(itertools.accumulate(gap(arrivals.rate) for _ in range(n)))


async def publish_arrivals(
    times: list[float],
    *,
    queue: str,
    broker: Broker,
    store: StatsStore,
    rng: random.Random,
    arrived: Callable[[float], None],
) -> None:
    """Publish a message at each of ``times`` (on the Trio clock); tell ``arrived`` when each was due."""
    run = new_run_id(rng)
    await broker.declare(queue)
    event(log, "producing", queue=queue, run=run, count=len(times), arrivals=True)
    for seq, due in enumerate(times):
        await trio.sleep_until(due)
        arrived(due)
        sms = random_sms(rng, run=run, seq=seq, created_at=time.time())
        await broker.publish(queue, [Outgoing(sms.message_id, encode(sms))])
        await store.add_produced(run, [seq])
