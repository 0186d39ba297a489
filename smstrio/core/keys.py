"""Every Redis key smstrio uses, in one place.

All keys of one queue share the hash tag ``{queue}``, so they live in one slot
and the atomic scripts also work on Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """The key names of one queue's statistics."""

    queue: str
    prefix: str = "smstrio"

    @property
    def _base(self) -> str:
        return f"{self.prefix}:{{{self.queue}}}"

    @property
    def totals(self) -> str:
        """Hash: produced, sent, failed, invalid, duplicates, service_us and latency_us (integer microseconds)."""
        return f"{self._base}:totals"

    @property
    def service_histogram(self) -> str:
        """Hash: service-time histogram, field ``histogram.bucket_key(µs)`` = count, plus exact min and max."""
        return f"{self._base}:hist:service"

    @property
    def latency_histogram(self) -> str:
        """Hash: creation-to-outcome latency histogram, laid out as :attr:`service_histogram`."""
        return f"{self._base}:hist:latency"

    def produced(self, run: str) -> str:
        """Bitmap of one producer run: bit ``seq`` is set once that message is counted in ``produced``."""
        return f"{self._base}:produced:{run}"

    def done(self, run: str) -> str:
        """Bitmap of one producer run: bit ``seq`` is set once that message's outcome is counted."""
        return f"{self._base}:done:{run}"

    @property
    def runs_pattern(self) -> str:
        """A SCAN pattern matching every run's ``produced`` bitmap (the run id follows the last colon)."""
        return self.produced("*")

    def scratch(self, run: str) -> str:
        """A key ``smstrio audit`` computes one run's missing messages in, deleted before its script returns."""
        return f"{self._base}:scratch:{run}"

    def rate(self, second: int) -> str:
        """Counter of outcomes counted during one wall-clock second (expires after ``RATE_TTL_S``)."""
        return f"{self._base}:rate:{second}"

    @property
    def senders(self) -> str:
        """Sorted set: sender id scored by its last heartbeat."""
        return f"{self._base}:senders"

    def sender(self, sender_id: str) -> str:
        """Hash of one sender's settings and counts, expiring unless its heartbeat renews it."""
        return f"{self._base}:sender:{sender_id}"

    @property
    def fleet_limit(self) -> str:
        """String: the fleet limit's theoretical arrival time (µs on the Redis server's clock); it expires
        once that time has passed, when it would say no more than a missing key."""
        return f"{self._base}:limit"

    @property
    def pattern(self) -> str:
        """A SCAN pattern matching every key of this queue (used by ``reset``)."""
        return f"{self._base}:*"


RATE_TTL_S = 130
"""How long a per-second rate counter lives: longer than the 120 s before the current second that a
view reads (``smstrio.core.stats.RATE_HISTORY_S``), so the oldest of them is still there."""
