"""Settings, parsed once at the CLI boundary into frozen dataclasses that validate themselves.

Precedence: command-line flag, then environment variable, then the ``.env`` file, then
the default. Below the CLI nothing reads ``os.environ``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from smstrio.core.distributions import Distribution
from smstrio.core.gateway import GatewaySettings
from smstrio.core.logs import LOG_FORMATS
from smstrio.core.sources import Sources, as_int
from smstrio.core.urls import TlsFiles, check, check_url, redact, split_urls

_QUEUE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _finite(value: float) -> bool:
    return math.isfinite(value)


DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"
DEFAULT_AMQP_HEARTBEAT = 10
"""Seconds between AMQP heartbeats: aiormq drops a connection silent for about two of them (22 s)."""
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_QUEUE = "sms_queue"
QUEUE_TYPES = ("classic", "quorum")
REDIS_CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
"""A Redis URL with one of these schemes names one node of a Redis Cluster (the client finds the others)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Common:
    """Settings every role shares."""

    amqp_url: str = DEFAULT_AMQP_URL
    redis_url: str = DEFAULT_REDIS_URL
    queue: str = DEFAULT_QUEUE
    log_level: str = "INFO"
    log_file: Path | None = None
    log_format: str = "auto"
    """``auto``, ``console`` or ``json``: the lines on stderr (see :func:`smstrio.core.logs.setup`)."""
    amqp_tls: TlsFiles = field(default_factory=TlsFiles)
    redis_tls: TlsFiles = field(default_factory=TlsFiles)
    queue_type: str = "classic"
    """``classic`` or ``quorum``: how the queue is declared (an existing queue must match)."""
    amqp_heartbeat: int = DEFAULT_AMQP_HEARTBEAT
    """Seconds between AMQP heartbeats (0: none); a ``heartbeat=`` in the URL wins."""

    def __post_init__(self) -> None:
        for node in self.amqp_urls:
            check_url(node, ("amqp", "amqps"), "AMQP")
            parts = urlsplit(node)
            check(
                "," not in f"{parts.hostname}{parts.path}",
                f"malformed AMQP URL {redact(node)!r}: each node of a list is a whole URL "
                "(amqp://HOST,amqp://HOST2; a comma in a vhost as %2C)",
            )
            self.amqp_tls.check("--amqp", node, ("amqps",))
        check(
            0 <= self.amqp_heartbeat <= 3600,
            f"AMQP heartbeat must be within 0..3600 seconds (0: none), got {self.amqp_heartbeat}",
        )
        check_url(self.redis_url, ("redis", "rediss", *REDIS_CLUSTER_SCHEMES), "Redis")
        check(
            not self.redis_cluster or urlsplit(self.redis_url).path in ("", "/", "/0"),
            f"Redis URL {redact(self.redis_url)!r}: a Redis Cluster has only database 0",
        )
        self.redis_tls.check("--redis", self.redis_url, ("rediss", "rediss+cluster"))
        check(bool(_QUEUE.match(self.queue)), f"invalid queue name {self.queue!r}: use 1 to 200 of A-Z a-z 0-9 . _ -")
        check(self.log_level in _LEVELS, f"invalid log level {self.log_level!r}: one of {', '.join(_LEVELS)}")
        check(
            self.log_format in LOG_FORMATS,
            f"invalid log format {self.log_format!r}: one of {', '.join(LOG_FORMATS)}",
        )
        check(
            self.queue_type in QUEUE_TYPES, f"invalid queue type {self.queue_type!r}: one of {', '.join(QUEUE_TYPES)}"
        )

    @property
    def amqp_urls(self) -> tuple[str, ...]:
        """The broker nodes ``amqp_url`` names: one URL, or several separated by commas (a cluster)."""
        return split_urls(self.amqp_url)

    @property
    def redis_cluster(self) -> bool:
        return urlsplit(self.redis_url).scheme in REDIS_CLUSTER_SCHEMES

    @classmethod
    def resolve(
        cls,
        src: Sources,
        *,
        amqp_url: str | None = None,
        redis_url: str | None = None,
        queue: str | None = None,
        log_level: str | None = None,
        log_file: Path | None = None,
        log_format: str | None = None,
        amqp_tls: TlsFiles = TlsFiles(),
        redis_tls: TlsFiles = TlsFiles(),
        queue_type: str | None = None,
        amqp_heartbeat: int | None = None,
    ) -> Common:
        """Each setting from its argument (a flag), else its environment variable, else the default.

        ``amqp_url``: a flag given more than once is joined with commas (several nodes).
        TLS files: ``AMQP_CA``, ``AMQP_CERT``, ``AMQP_KEY``, ``REDIS_CA``, ``REDIS_CERT``, ``REDIS_KEY``.
        """
        rabbit_host = src.env.get("RABBITMQ_HOST", "").strip()
        redis_host = src.env.get("REDIS_HOST", "").strip()
        return cls(
            amqp_url=src.pick(
                amqp_url,
                ("AMQP_URL",),
                str,
                f"amqp://guest:guest@{rabbit_host}:5672/" if rabbit_host else DEFAULT_AMQP_URL,
            ),
            redis_url=src.pick(
                redis_url, ("REDIS_URL",), str, f"redis://{redis_host}:6379/0" if redis_host else DEFAULT_REDIS_URL
            ),
            queue=src.pick(queue, ("QUEUE_NAME",), str, DEFAULT_QUEUE),
            log_level=src.pick(log_level, ("LOG_LEVEL",), str, "INFO").upper(),
            log_file=src.pick(log_file, ("LOG_FILE",), Path, None),
            log_format=src.pick(log_format, ("LOG_FORMAT",), str, "auto").lower(),
            amqp_tls=_tls_files(src, "AMQP", amqp_tls),
            redis_tls=_tls_files(src, "REDIS", redis_tls),
            queue_type=src.pick(queue_type, ("QUEUE_TYPE",), str, "classic").lower(),
            amqp_heartbeat=src.pick(amqp_heartbeat, ("AMQP_HEARTBEAT",), as_int, DEFAULT_AMQP_HEARTBEAT),
        )


def _tls_files(src: Sources, prefix: str, flags: TlsFiles) -> TlsFiles:
    return TlsFiles(
        ca=src.pick(flags.ca, (f"{prefix}_CA",), Path, None),
        cert=src.pick(flags.cert, (f"{prefix}_CERT",), Path, None),
        key=src.pick(flags.key, (f"{prefix}_KEY",), Path, None),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProducerSettings:
    """``smstrio produce``."""

    common: Common
    count: int = 1000
    window: int = 1000
    """Publishes in flight at once, awaiting their confirms."""
    seed: int | None = None
    processes: int = 1
    """Producer processes ``smstrio produce`` splits the count between; 1: this process publishes."""

    def __post_init__(self) -> None:
        check(self.count >= 0, f"message count must be >= 0, got {self.count}")
        check(1 <= self.window <= 65535, f"window must be within 1..65535, got {self.window}")
        check(1 <= self.processes <= 1024, f"processes must be within 1..1024, got {self.processes}")


MAX_RATE_LIMIT = 1_000_000
"""The highest ``--rate-limit`` and ``--fleet-rate-limit``: GCRA slots are whole microseconds apart."""
PREFETCH_AHEAD_S = 0.25
"""Under a rate limit, the default prefetch covers the sends in flight plus this many seconds of the limit."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderSettings:
    """``smstrio send``."""

    common: Common
    workers: int = 20
    mean: float = 2.0
    failure_rate: float = 0.1
    distribution: Distribution = Distribution.EXPONENTIAL
    prefetch: int | None = None
    """Unacknowledged deliveries the broker may hand this process; ``None``: twice the worker count,
    so that each worker has its next delivery at hand while its last one is being recorded."""
    grace: float = 30.0
    max_attempts: int = 1
    """Attempts at each send; a failed one is retried after ``retry_delay * 2**(attempt - 1)`` seconds."""
    retry_delay: float = 1.0
    until_empty: bool = False
    seed: int | None = None
    batch_max: int = 500
    batch_linger: float = 0.02
    """How long a batch of outcomes that is not full waits for more before it is stored and acknowledged."""
    summary_interval: float = 5.0
    """Seconds between the ``summary`` log lines of this sender's own work; 0: none."""
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    """Where sends go; ``mean``, ``failure_rate`` and ``distribution`` apply to the simulated gateway only."""
    processes: int = 1
    """Sender processes ``smstrio send`` runs as its children, each with these settings; 1: this process sends."""
    rate_limit: float | None = None
    """Messages a second this process sends at most (``None``: no limit); ``--processes N`` gives each child
    a share of the command's limit."""
    fleet_rate_limit: float | None = None
    """Messages a second every sender of the queue sends at most together, kept in the store; ``None``: none."""

    def __post_init__(self) -> None:
        check(1 <= self.workers <= 100_000, f"workers must be within 1..100000, got {self.workers}")
        check(1 <= self.processes <= 1024, f"processes must be within 1..1024, got {self.processes}")
        check(_finite(self.mean) and self.mean >= 0, f"mean must be a number >= 0 seconds, got {self.mean}")
        check(
            _finite(self.failure_rate) and 0 <= self.failure_rate <= 1,
            f"failure rate must be within 0..1, got {self.failure_rate}",
        )
        check(
            self.prefetch is None or 1 <= self.prefetch <= 65535,
            f"prefetch must be within 1..65535, got {self.prefetch}",
        )
        check(_finite(self.grace) and self.grace >= 0, f"grace must be >= 0 seconds, got {self.grace}")
        check(1 <= self.max_attempts <= 100, f"max attempts must be within 1..100, got {self.max_attempts}")
        check(
            _finite(self.summary_interval) and self.summary_interval >= 0,
            f"summary interval must be >= 0 seconds, got {self.summary_interval}",
        )
        check(
            _finite(self.batch_linger) and 0 <= self.batch_linger <= 1,
            f"batch linger must be within 0..1 seconds, got {self.batch_linger}",
        )
        check(
            _finite(self.retry_delay) and 0 <= self.retry_delay <= 3600,
            f"retry delay must be within 0..3600 seconds, got {self.retry_delay}",
        )
        for name, limit in (("rate limit", self.rate_limit), ("fleet rate limit", self.fleet_rate_limit)):
            check(
                limit is None or (_finite(limit) and 0 < limit <= MAX_RATE_LIMIT),
                f"{name} must be > 0 and at most {MAX_RATE_LIMIT:,} messages per second, got {limit}",
            )

    @property
    def tightest_limit(self) -> float | None:
        """The smaller of the rate limits given, or ``None`` without one."""
        limits = [x for x in (self.rate_limit, self.fleet_rate_limit) if x is not None]
        return min(limits) if limits else None

    @property
    def effective_prefetch(self) -> int:
        """``prefetch`` if given; else twice the workers, and under a rate limit no more than the deliveries
        the limit lets go through in one send time plus ``PREFETCH_AHEAD_S`` (the simulated mean send time,
        or the HTTP gateway's timeout, which bounds its requests): what the limit leaves unsent stays in
        the queue for other senders."""
        if self.prefetch is not None:
            return self.prefetch
        most = min(2 * self.workers, 65535)
        limit = self.tightest_limit
        if limit is None:
            return most
        send_s = self.mean if self.gateway.kind == "simulated" else self.gateway.timeout
        return max(1, min(most, math.ceil(limit * (send_s + PREFETCH_AHEAD_S))))


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorSettings:
    """``smstrio monitor``."""

    common: Common
    interval: float = 5.0
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = field(default=None, repr=False)
    """When set, ``/``, ``/stats`` and ``/metrics`` require ``Authorization: Bearer <token>``; kept out of reprs."""

    def __post_init__(self) -> None:
        check(_finite(self.interval) and self.interval > 0, f"interval must be > 0 seconds, got {self.interval}")
        check(0 <= self.port <= 65535, f"port must be within 0..65535, got {self.port}")
        check(self.token is None or self.token.strip() != "", "token must not be empty")
