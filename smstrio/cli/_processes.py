"""``smstrio send --processes N``: this process supervises N sender processes and logs their combined summary.

Each child is ``smstrio send`` again, with this command line minus ``--processes`` and
``SENDER_PROCESSES=1``: its own connections, its own ``--workers``, its own heartbeat (so each
shows in ``senders``), its own signal handling (see :mod:`smstrio.nursery.processes` for
restarts and stops). The supervisor checks both servers at start, as every command does,
then keeps only a Redis connection, to read the children's heartbeats for its summary.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio

from smstrio.cli._app import CONNECT_TIMEOUT_S, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, run_command, until_signalled
from smstrio.core.config import Common, SenderSettings
from smstrio.core.errors import ConfigError, ServiceError, StoreError
from smstrio.core.logs import event
from smstrio.core.sources import Sources
from smstrio.nursery.processes import Supervisor
from smstrio.ports import StatsStore

log = logging.getLogger("smstrio.cli.processes")

FLAG = "--processes"
SPLIT = "--rate-limit"
"""A flag whose value the children share: each gets 1/N of it (through ``RATE_LIMIT``)."""


def process_count(flag: str | None, src: Sources, env: str) -> int:
    """``--processes`` (else the environment variable ``env``, else 1) as a count: ``auto`` is the CPU count."""
    if flag is None:
        return src.pick(None, (env,), _count, 1)
    try:
        return _count(flag)
    except ValueError as exc:
        raise ConfigError(f"{FLAG} {flag!r}: {exc}") from None


def _count(raw: str) -> int:
    if raw.strip().lower() == "auto":
        return os.cpu_count() or 1
    try:
        return int(raw)
    except ValueError:
        raise ValueError("a whole number or auto") from None


def child_arguments(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--processes N`` and ``--rate-limit R`` (or their ``--flag=value`` forms)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in (FLAG, SPLIT):
            skip = True
        elif not arg.startswith((f"{FLAG}=", f"{SPLIT}=")):
            out.append(arg)
    return out


def child_environment(settings: SenderSettings) -> dict[str, str]:
    """The children's environment: this one, one process each, and each child's share of ``--rate-limit``."""
    env = {**os.environ, "SENDER_PROCESSES": "1"}
    if settings.rate_limit is not None:
        env["RATE_LIMIT"] = repr(settings.rate_limit / settings.processes)
    return env


def supervise_senders(settings: SenderSettings) -> None:
    """Run ``settings.processes`` senders as children of this process until they end or a signal stops them.

    Exit 0 once every child has exited 0 (``--until-empty``) or after a graceful stop; 130 after
    a second signal (the children are killed); 2 when a child exits with a usage error; 3 when
    a child's first run finds a server unreachable (say, the ``--gateway-url`` host).
    """
    if sys.argv[1:2] != ["send"]:
        raise ConfigError(f"{FLAG} starts this command again as child processes: run it as `smstrio send ...`")
    command = [sys.executable, "-m", "smstrio", *child_arguments(sys.argv[1:])]
    env = child_environment(settings)

    async def main() -> int:
        supervisor = Supervisor(
            command,
            settings.processes,
            env=env,
            fatal=frozenset({EXIT_USAGE}),
            fatal_at_start=frozenset({EXIT_UNAVAILABLE}),
        )
        async with _open_store(settings.common) as store:
            code = await until_signalled(_supervise, supervisor, store, settings.summary_interval)
        fatal = supervisor.statistics().fatal
        if fatal == EXIT_UNAVAILABLE:
            raise ServiceError(f"a sender process exited with code {fatal} at start (its error is logged above)")
        if fatal is not None:
            raise ConfigError(f"a sender process exited with code {fatal} (its error is logged above)")
        return code or EXIT_OK

    run_command("supervisor", settings.common, main)


@asynccontextmanager
async def _open_store(common: Common) -> AsyncIterator[StatsStore]:
    """The trio-asyncio loop and a stats store, after checking that the broker answers too."""
    from smstrio.adapters.amqp.broker import AmqpBroker
    from smstrio.adapters.bridge import open_bridge
    from smstrio.adapters.redis.store import RedisStore

    async with open_bridge():
        with trio.fail_after(CONNECT_TIMEOUT_S):
            broker = await AmqpBroker.connect(
                common.amqp_url, name="smstrio send supervisor", tls=common.amqp_tls, queue_type=common.queue_type
            )
            await broker.aclose()
            store = await RedisStore.connect(common.redis_url, common.queue, tls=common.redis_tls)
        try:
            yield store
        finally:
            await store.aclose()


async def _supervise(
    supervisor: Supervisor,
    store: StatsStore,
    interval: float,
    *,
    task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with trio.open_nursery() as nursery:
        if interval > 0:
            nursery.start_soon(_summarize, supervisor, store, interval)
        await supervisor.run(task_status=task_status)
        nursery.cancel_scope.cancel()


async def _summarize(supervisor: Supervisor, store: StatsStore, interval: float) -> None:
    """Every ``interval`` seconds, log the children's combined counts and rate, read from their heartbeats.

    Counts are each child's as of its last heartbeat (once a second), kept after it ends, so a
    restarted child's work still adds up. Under a rate limit, the line also gives the time the
    children's sends waited for it, in all (``limit_wait_s``; null without one), as a sender's own line does.
    """
    host = socket.gethostname()
    counts: dict[str, tuple[int, int, int, int]] = {}
    waits: dict[str, float] = {}
    limited = False
    processed, at = 0, trio.current_time()
    while True:
        await trio.sleep(interval)
        st = supervisor.statistics()
        try:
            view = await store.view()
        except StoreError as exc:
            event(log, "summary unavailable", level=logging.DEBUG, error=str(exc))
            continue
        ours = set(st.started)
        for s in view.senders:
            if s.host == host and s.pid in ours:
                counts[s.id] = (s.sent, s.failed, s.invalid, s.retried)
                waits[s.id] = s.limit_wait_s
                limited = limited or s.rate_limit is not None or s.fleet_rate_limit is not None
        sent, failed, invalid, retried = (sum(c[i] for c in counts.values()) for i in range(4))
        now = trio.current_time()
        event(
            log,
            "summary",
            processes=len(st.running),
            restarts=st.restarts,
            sent=sent,
            failed=failed,
            invalid=invalid,
            retried=retried,
            rate_per_s=round((sent + failed + invalid - processed) / (now - at), 1),
            limit_wait_s=round(sum(waits.values()), 3) if limited else None,
        )
        processed, at = sent + failed + invalid, now
