"""The in-process twin of the Redis stats store, for tests and the embedded simulation.

It counts as the Redis store's scripts do: once per message id, with a ``done`` and a
``produced`` bit per message, histograms of send time and latency, per-second rates.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import trio

from smstrio.core.audit import RunLedger
from smstrio.core.heartbeat import SenderInfo
from smstrio.core.histogram import Histogram
from smstrio.core.keys import RATE_TTL_S
from smstrio.core.ratelimit import Gcra, Grant, reserve
from smstrio.core.stats import Counted, Outcome, OutcomeRecord, StoreView, Totals, recent_seconds

_RETRIED, _INVALID = Outcome.RETRIED, Outcome.INVALID


class _Bitmaps:
    """One bit per message id, a bytearray per run, as the Redis store keeps them (and free for the GC)."""

    def __init__(self) -> None:
        self._runs: dict[str, bytearray] = {}

    def set(self, run: str, seq: int) -> bool:
        """Set the bit of ``(run, seq)``; say whether it was clear."""
        bits = self._runs.get(run)
        if bits is None:
            bits = self._runs[run] = bytearray()
        byte, mask = seq >> 3, 1 << (seq & 7)
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
        old = bits[byte]
        if old & mask:
            return False
        bits[byte] = old | mask
        return True

    def count(self, run: str) -> int:
        """How many bits of ``run`` are set."""
        return int.from_bytes(self._runs.get(run, b""), "little").bit_count()

    def seqs_only_here(self, run: str, other: _Bitmaps, limit: int) -> tuple[int, ...]:
        """The first ``limit`` seqs of ``run`` set here and clear in ``other``, ascending."""
        bits = int.from_bytes(self._runs.get(run, b""), "little") & ~int.from_bytes(other._runs.get(run, b""), "little")
        seqs: list[int] = []
        while bits and len(seqs) < limit:
            lowest = bits & -bits
            seqs.append(lowest.bit_length() - 1)
            bits ^= lowest
        return tuple(seqs)

    def runs(self) -> list[str]:
        return sorted(self._runs)

    def clear(self) -> None:
        self._runs.clear()

    def __len__(self) -> int:
        """How many runs have a bitmap (one Redis key each)."""
        return len(self._runs)


@dataclass
class MemoryStore:
    """A stats store in memory; ``clock`` gives seconds (``trio.current_time`` for virtual time)."""

    clock: Callable[[], float]
    totals: Totals = field(default_factory=Totals)
    _done: _Bitmaps = field(default_factory=lambda: _Bitmaps())
    _produced: _Bitmaps = field(default_factory=lambda: _Bitmaps())
    _per_second: collections.Counter[int] = field(default_factory=collections.Counter)
    _senders: dict[str, tuple[SenderInfo, float]] = field(default_factory=dict)
    _service: Histogram = field(default_factory=Histogram)
    _latency: Histogram = field(default_factory=Histogram)
    _limit_tat_us: int = 0
    """The fleet limit's theoretical arrival time on ``clock``, as ``limit.lua`` keeps it in Redis."""

    async def record(self, records: Sequence[OutcomeRecord]) -> Counted:
        await trio.lowlevel.checkpoint()
        counts = dict.fromkeys(Outcome, 0)
        duplicates = service_us = latency_us = produced = 0
        done, made, service, latency = self._done.set, self._produced.set, self._service.record, self._latency.record
        for r in records:
            outcome = r.outcome
            if outcome is _RETRIED:
                counts[outcome] += 1
                continue
            run, seq = r.run, r.seq
            if run is not None and seq is not None:
                if not done(run, seq):
                    duplicates += 1
                    continue
                produced += made(run, seq)
            else:
                produced += 1
            counts[outcome] += 1
            if outcome is not _INVALID:
                service_us += r.service_us
                latency_us += r.latency_us
                service(r.service_us)
                latency(r.latency_us)
        counted = Counted(
            sent=counts[Outcome.SENT],
            failed=counts[Outcome.FAILED],
            invalid=counts[_INVALID],
            duplicates=duplicates,
            retried=counts[_RETRIED],
        )
        t = self.totals
        self.totals = replace(
            t,
            produced=t.produced + produced,
            sent=t.sent + counted.sent,
            failed=t.failed + counted.failed,
            invalid=t.invalid + counted.invalid,
            duplicates=t.duplicates + counted.duplicates,
            retried=t.retried + counted.retried,
            service_us=t.service_us + service_us,
            latency_us=t.latency_us + latency_us,
        )
        self._per_second[int(self.clock())] += counted.processed
        return counted

    async def add_produced(self, run: str, seqs: Sequence[int]) -> int:
        await trio.lowlevel.checkpoint()
        new = sum(self._produced.set(run, seq) for seq in seqs)
        self.totals = replace(self.totals, produced=self.totals.produced + new)
        return new

    async def reserve_slots(self, want: int, limit: Gcra, horizon_us: int) -> Grant:
        await trio.lowlevel.checkpoint()
        self._limit_tat_us, grant = reserve(self._limit_tat_us, self._now_us(), want, limit, horizon_us)
        return grant

    def _now_us(self) -> int:
        return round(self.clock() * 1e6)

    async def heartbeat(self, info: SenderInfo, ttl: float) -> None:
        await trio.lowlevel.checkpoint()
        self._senders[info.id] = (info, self.clock() + ttl)

    async def forget_sender(self, sender_id: str) -> None:
        await trio.lowlevel.checkpoint()
        self._senders.pop(sender_id, None)

    async def view(self) -> StoreView:
        await trio.lowlevel.checkpoint()
        now = self.clock()
        self._senders = {k: (info, expires) for k, (info, expires) in self._senders.items() if expires > now}
        live = [info for info, _ in self._senders.values()]
        recent = [self._per_second[s] for s in recent_seconds(now)]
        return StoreView(
            totals=self.totals,
            recent=recent,
            senders=live,
            service=Histogram().merge(self._service),  # copies: a snapshot must not change later
            latency=Histogram().merge(self._latency),
        )

    async def ledger(self, shown: int) -> list[RunLedger]:
        await trio.lowlevel.checkpoint()
        return [
            RunLedger(
                run=run,
                confirmed=self._produced.count(run),
                counted=self._done.count(run),
                first_missing=self._produced.seqs_only_here(run, self._done, shown),
            )
            for run in self._produced.runs()
        ]

    async def reset(self) -> int:
        await trio.lowlevel.checkpoint()
        deleted = self._key_count()
        self.totals = Totals()
        self._done.clear()
        self._produced.clear()
        self._per_second.clear()
        self._senders.clear()
        self._service = Histogram()
        self._latency = Histogram()
        self._limit_tat_us = 0
        return deleted

    def _key_count(self) -> int:
        """How many keys the Redis store would hold for what this twin holds: what ``reset`` reports deleting.

        Rate counters live ``RATE_TTL_S`` after their second; the senders' sorted set keeps expired
        members until the next ``view`` (as here), each sender's hash only until it expires.
        """
        now = self.clock()
        return sum(
            (
                self.totals != Totals(),
                len(self._done),
                len(self._produced),
                sum(1 for second, n in self._per_second.items() if n and second > now - RATE_TTL_S),
                self._service.count > 0,
                self._latency.count > 0,
                bool(self._senders),
                sum(1 for _, expires in self._senders.values() if expires > now),
                self._limit_tat_us > self._now_us(),
            )
        )

    async def ping(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
