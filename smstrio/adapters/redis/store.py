"""The stats store over Redis, with redis-py's asyncio client under trio-asyncio.

Every public method is one bridge crossing and one round trip (a script or a
pipeline), but ``ledger``: a SCAN, then a script per run. Counting is idempotent:
bit ``seq`` of the run's ``done`` bitmap is set when a message's outcome is counted,
so a redelivered message is counted once, and bit ``seq`` of its ``produced`` bitmap
when it is counted as produced. The cost is two
bits per message (250 KB per million), kept until ``smstrio reset``.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from smstrio.adapters.bridge import cross
from smstrio.adapters.tls import client_context
from smstrio.core.audit import RunLedger
from smstrio.core.config import REDIS_CLUSTER_SCHEMES
from smstrio.core.errors import StoreError
from smstrio.core.heartbeat import SenderInfo
from smstrio.core.histogram import Histogram, bucket_key
from smstrio.core.keys import RATE_TTL_S, Keys
from smstrio.core.ratelimit import Gcra, Grant
from smstrio.core.stats import Counted, OutcomeRecord, StoreView, Totals, recent_seconds
from smstrio.core.urls import TlsFiles, redact


def _lua(name: str) -> str:
    """One of this package's Lua scripts; each documents its KEYS, ARGV and reply."""
    return resources.files("smstrio.adapters.redis").joinpath(name).read_text(encoding="utf-8")


_RECORD = _lua("record.lua")
_PRODUCED = _lua("produced.lua")
_LEDGER = _lua("ledger.lua")
_LIMIT = _lua("limit.lua")

_ERRORS = (RedisError, OSError)
_MAX_CONNECTIONS = 16

HEALTH_CHECK_INTERVAL_S = 10
"""A connection idle this long is PINGed (within the socket timeout) before it carries a command."""
KEEPALIVE = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}
"""TCP keepalive on every connection: an idle one whose peer vanished is closed by the kernel after
10 + 3 x 5 = 25 s (where the platform has these options; elsewhere its defaults)."""

Client = aioredis.Redis | aioredis.RedisCluster


def _describe(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:300]


class RedisStore:
    """A :class:`~smstrio.ports.StatsStore` for one queue in one Redis database."""

    def __init__(self, url: str, client: Client, keys: Keys) -> None:
        self._url = redact(url)
        self._client = client
        self._keys = keys
        self._record = client.register_script(_RECORD)
        self._produced = client.register_script(_PRODUCED)
        self._ledger = client.register_script(_LEDGER)
        self._limit = client.register_script(_LIMIT)

    @classmethod
    async def connect(
        cls,
        url: str,
        queue: str,
        *,
        socket_timeout: float = 5.0,
        prefix: str = "smstrio",
        tls: TlsFiles | None = None,
    ) -> RedisStore:
        """Connect and ping; raise :class:`StoreError` saying why not.

        ``socket_timeout`` bounds each command (so a connection gone silent is noticed within it); a failed
        command is retried once, on a new connection. Idle connections are kept alive (``KEEPALIVE``)
        and PINGed before use after ``HEALTH_CHECK_INTERVAL_S``.
        ``tls``: the CA, client certificate and key for a ``rediss://`` URL (else the system's CAs).
        A ``redis+cluster://`` (or ``rediss+cluster://``) URL names one node of a Redis Cluster.
        """
        store = cls(url, _client(url, socket_timeout, tls or TlsFiles()), Keys(queue, prefix))
        try:
            await cross(store._client.ping)
        except _ERRORS as exc:
            await store.aclose()
            raise StoreError(f"cannot connect to Redis at {redact(url)}: {_describe(exc)}") from exc
        return store

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await cross(fn, *args, **kwargs)
        except _ERRORS as exc:
            raise StoreError(f"Redis at {self._url} failed to {what}: {_describe(exc)}") from exc

    async def record(self, records: Sequence[OutcomeRecord]) -> Counted:
        keys = [
            self._keys.totals,
            self._keys.rate(int(time.time())),
            self._keys.service_histogram,
            self._keys.latency_histogram,
        ]
        slots: dict[str, int] = {}
        args: list[str | int] = [RATE_TTL_S]
        for r in records:
            k = 0
            if r.run is not None and r.seq is not None:
                k = slots.get(r.run, 0)
                if not k:
                    keys += (self._keys.done(r.run), self._keys.produced(r.run))
                    k = slots[r.run] = len(keys) - 1
            args += (
                k,
                r.seq or 0,
                r.outcome.value,
                r.service_us,
                r.latency_us,
                bucket_key(r.service_us),
                bucket_key(r.latency_us),
            )
        sent, failed, invalid, duplicates, retried = await self._call(
            "record outcomes", self._record, keys=keys, args=args
        )
        return Counted(sent=sent, failed=failed, invalid=invalid, duplicates=duplicates, retried=retried)

    async def add_produced(self, run: str, seqs: Sequence[int]) -> int:
        keys = [self._keys.totals, self._keys.produced(run)]
        new: int = await self._call("count produced messages", self._produced, keys=keys, args=list(seqs))
        return new

    async def reserve_slots(self, want: int, limit: Gcra, horizon_us: int) -> Grant:
        args = [want, limit.interval_us, limit.tolerance_us, horizon_us]
        count, first = await self._call("reserve slots", self._limit, keys=[self._keys.fleet_limit], args=args)
        return Grant(int(count), int(first), limit.interval_us)

    async def heartbeat(self, info: SenderInfo, ttl: float) -> None:
        await self._call("record a heartbeat", _heartbeat, self._client, self._keys, info, ttl)

    async def forget_sender(self, sender_id: str) -> None:
        await self._call("remove a sender", _forget, self._client, self._keys, sender_id)

    async def view(self) -> StoreView:
        totals, recent, senders, service, latency = await self._call(
            "read statistics", _view, self._client, self._keys, time.time()
        )
        return StoreView(
            totals=Totals.from_fields(totals),
            recent=recent,
            senders=senders,
            service=_histogram(service),
            latency=_histogram(latency),
        )

    async def ledger(self, shown: int) -> list[RunLedger]:
        rows: list[RunLedger] = await self._call(
            "read the ledger", _ledger, self._client, self._keys, self._ledger, shown
        )
        return rows

    async def reset(self) -> int:
        deleted: int = await self._call("reset statistics", _reset, self._client, self._keys)
        return deleted

    async def ping(self) -> None:
        await self._call("answer PING", self._client.ping)

    async def aclose(self) -> None:
        with contextlib.suppress(*_ERRORS):
            await cross(self._client.aclose)


def _client(url: str, socket_timeout: float, tls: TlsFiles) -> Client:
    """A blocking pool of connections to one server, or a cluster client (all of a queue's keys share one slot)."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "socket_keepalive": True,
        "socket_keepalive_options": KEEPALIVE,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
    }
    if tls.given:
        client_context(tls, "Redis")  # a file that does not load is a usage error, found before connecting
        options.update(
            ssl_ca_certs=tls.ca and str(tls.ca),
            ssl_certfile=tls.cert and str(tls.cert),
            ssl_keyfile=tls.key and str(tls.key),
        )
    scheme, _, rest = url.partition("://")
    if scheme in REDIS_CLUSTER_SCHEMES:
        url = f"{scheme.removesuffix('+cluster')}://{rest}"
        return aioredis.RedisCluster.from_url(url, max_connections=_MAX_CONNECTIONS, **options)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=_MAX_CONNECTIONS, timeout=socket_timeout, **options
    )
    return aioredis.Redis.from_pool(pool)


# The coroutines below run on the asyncio side of the bridge, one crossing each.


async def _heartbeat(client: Client, keys: Keys, info: SenderInfo, ttl: float) -> None:
    async with client.pipeline(transaction=True) as pipe:
        fields: dict[Any, str] = info.to_fields()  # redis-py's key type is invariant
        pipe.hset(keys.sender(info.id), mapping=fields)
        pipe.pexpire(keys.sender(info.id), int(ttl * 1000))
        pipe.zadd(keys.senders, {info.id: info.last_seen + ttl})
        await pipe.execute()


async def _forget(client: Client, keys: Keys, sender_id: str) -> None:
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(keys.sender(sender_id))
        pipe.zrem(keys.senders, sender_id)
        await pipe.execute()


async def _view(
    client: Client, keys: Keys, now: float
) -> tuple[dict[str, str], list[int], list[SenderInfo], dict[str, str], dict[str, str]]:
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.totals)
        pipe.zremrangebyscore(keys.senders, "-inf", now)
        pipe.zrange(keys.senders, 0, -1)
        pipe.hgetall(keys.service_histogram)
        pipe.hgetall(keys.latency_histogram)
        for s in recent_seconds(now):
            pipe.get(keys.rate(s))  # GETs, not one MGET: a cluster pipeline refuses MGET
        totals, _, ids, service, latency, *rates = await pipe.execute()
    senders: list[SenderInfo] = []
    if ids:
        async with client.pipeline(transaction=False) as pipe:
            for sender_id in ids:
                pipe.hgetall(keys.sender(sender_id))
            senders = [SenderInfo.from_fields(f) for f in await pipe.execute() if f]
    return totals, [int(r or 0) for r in rates], senders, service, latency


def _histogram(fields: dict[str, str]) -> Histogram:
    """A histogram hash as the record script keeps it: bucket key -> count, plus ``min`` and ``max``."""
    low, high = int(fields.pop("min", 0)), int(fields.pop("max", 0))
    return Histogram.from_buckets({int(key): int(n) for key, n in fields.items()}, low=low, high=high)


async def _ledger(client: Client, keys: Keys, script: Any, shown: int) -> list[RunLedger]:
    runs = sorted({key.rpartition(":")[2] async for key in client.scan_iter(match=keys.runs_pattern, count=500)})
    rows = []
    for run in runs:
        produced, done, *seqs = await script(keys=[keys.produced(run), keys.done(run), keys.scratch(run)], args=[shown])
        rows.append(RunLedger(run=run, confirmed=produced, counted=done, first_missing=tuple(seqs)))
    return rows


async def _reset(client: Client, keys: Keys) -> int:
    deleted = 0
    batch: list[str] = []
    async for key in client.scan_iter(match=keys.pattern, count=500):
        batch.append(key)
        if len(batch) >= 500:
            deleted += await client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += await client.unlink(*batch)
    return deleted
