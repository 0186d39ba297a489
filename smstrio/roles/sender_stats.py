"""What a sender says of itself: its id, its statistics record, and how often its heartbeat tells the store."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

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


def new_sender_id() -> str:
    """``host-pid-xxxx``: unique across hosts and restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
