"""What a sender says of itself: its id and heartbeat record, its statistics record, and how often its heartbeat
tells the store."""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass

from smstrio.core.config import SenderSettings
from smstrio.core.heartbeat import SenderInfo
from smstrio.core.stats import Counted

HEARTBEAT_S = 1.0
"""How often a sender announces itself."""
HEARTBEAT_TTL_S = 5.0
"""A sender not heard from for this long disappears from the statistics."""


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
    limit_wait_s: float = 0.0
    """Time the next send waited for the rate limits, in all (see :class:`~smstrio.roles.throttle.Throttle`)."""


def sender_info(settings: SenderSettings) -> SenderInfo:
    """What a sender with ``settings`` announces of itself from its start (its counts come with each beat)."""
    simulated = settings.gateway.kind == "simulated"
    return SenderInfo(
        id=new_sender_id(),
        host=socket.gethostname(),
        pid=os.getpid(),
        workers=settings.workers,
        mean_s=settings.mean if simulated else None,
        failure_rate=settings.failure_rate if simulated else None,
        distribution=settings.distribution.value if simulated else None,
        started_at=round(time.time(), 3),
        gateway=settings.gateway.kind,
        rate_limit=settings.rate_limit,
        fleet_rate_limit=settings.fleet_rate_limit,
    )


def new_sender_id() -> str:
    """``host-pid-xxxx``: unique across hosts and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
