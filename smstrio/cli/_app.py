"""The command line's frame: the cyclopts app, the shared flags, and running a command under Trio.

Exit codes:
    0    done
    1    failed: not every message was confirmed, or an unexpected error
    2    usage: a bad flag, environment variable or .env value
    3    a server is unreachable at start, or refuses our password, certificate or CA
    130  stopped hard by a second SIGINT/SIGTERM
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Protocol

import cyclopts
import trio
from cyclopts import Parameter

from smstrio import __version__
from smstrio.core import logs
from smstrio.core.config import Common
from smstrio.core.errors import ConfigError, ServiceError, SmstrioError
from smstrio.core.sources import Sources
from smstrio.core.urls import TlsFiles
from smstrio.nursery.signals import stop_on_signals

if TYPE_CHECKING:
    from smstrio.adapters.amqp.broker import AmqpBroker
    from smstrio.adapters.redis.store import RedisStore

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130

CONNECT_TIMEOUT_S = 10.0
DEAD_BODY_SHOWN = 200
"""Bytes of each dead letter's body that ``smstrio dead`` prints."""

app = cyclopts.App(
    name="smstrio",
    help="Simulate, load-test and capacity-plan an SMS alert fan-out service on RabbitMQ and Redis.",
    version=__version__,
)


@Parameter(name="*")
@dataclass
class LogFlags:
    """The logging flags of the commands that talk to no RabbitMQ or Redis: simulate, plan, mock-gateway."""

    log_level: str | None = None
    "DEBUG, INFO, WARNING or ERROR [env LOG_LEVEL; default INFO]."
    log_file: Path | None = None
    "Also append the JSON log lines to this file [env LOG_FILE]."
    log_format: str | None = None
    "Log lines on stderr: auto (console on a terminal, else json), console or json [env LOG_FORMAT; default auto]."

    def resolve(self, src: Sources) -> Common:
        """Only the logging settings, each falling back to its environment variable, then ``.env``."""
        return Common(
            log_level=src.pick(self.log_level, ("LOG_LEVEL",), str, "INFO").upper(),
            log_file=src.pick(self.log_file, ("LOG_FILE",), Path, None),
            log_format=src.pick(self.log_format, ("LOG_FORMAT",), str, "auto").lower(),
        )


DEFAULT_LOG_FLAGS = LogFlags()


@Parameter(name="*")
@dataclass
class ServiceFlags(LogFlags):
    """Flags every command that talks to the servers shares, the logging ones included. Each falls back to its
    environment variable, then ``.env``."""

    amqp_url: Annotated[list[str] | None, Parameter(negative=())] = None
    (
        "RabbitMQ URL; repeat it (or separate URLs with commas) to name several nodes of a cluster, tried in turn "
        "[env AMQP_URL, or RABBITMQ_HOST; default amqp://guest:guest@localhost:5672/]."
    )
    amqp_heartbeat: int | None = None
    (
        "Seconds between AMQP heartbeats; a connection silent for about two of them is dropped and reconnected; "
        "0: none; a heartbeat= in the URL wins [env AMQP_HEARTBEAT; default 10]."
    )
    redis_url: str | None = None
    "Redis URL [env REDIS_URL, or REDIS_HOST; default redis://localhost:6379/0]."
    queue: str | None = None
    "Queue name; statistics are kept per queue [env QUEUE_NAME; default sms_queue]."
    queue_type: str | None = None
    "classic or quorum; every command on a queue must agree [env QUEUE_TYPE; default classic]."
    amqp_ca: Path | None = None
    "PEM CA bundle that verifies RabbitMQ's certificate, amqps:// only [env AMQP_CA; default the system's]."
    amqp_cert: Path | None = None
    "PEM client certificate for RabbitMQ, with --amqp-key [env AMQP_CERT]."
    amqp_key: Path | None = None
    "PEM private key of --amqp-cert [env AMQP_KEY]."
    redis_ca: Path | None = None
    "PEM CA bundle that verifies Redis's certificate, rediss:// only [env REDIS_CA; default the system's]."
    redis_cert: Path | None = None
    "PEM client certificate for Redis, with --redis-key [env REDIS_CERT]."
    redis_key: Path | None = None
    "PEM private key of --redis-cert [env REDIS_KEY]."

    def resolve(self, src: Sources) -> Common:
        return Common.resolve(
            src,
            amqp_url=",".join(self.amqp_url) if self.amqp_url else None,
            redis_url=self.redis_url,
            queue=self.queue,
            log_level=self.log_level,
            log_file=self.log_file,
            log_format=self.log_format,
            amqp_tls=TlsFiles(ca=self.amqp_ca, cert=self.amqp_cert, key=self.amqp_key),
            redis_tls=TlsFiles(ca=self.redis_ca, cert=self.redis_cert, key=self.redis_key),
            queue_type=self.queue_type,
            amqp_heartbeat=self.amqp_heartbeat,
        )


DEFAULT_FLAGS = ServiceFlags()


class _Stop(Exception):
    """Carries an exit code out of a command."""

    def __init__(self, code: int) -> None:
        self.code = code


def sources() -> Sources:
    return Sources.load(os.environ)


def _fail(code: int, message: str) -> NoReturn:
    print(f"smstrio: error: {message}", file=sys.stderr)
    raise _Stop(code)


def _smstrio_error(exc: BaseException) -> SmstrioError | None:
    """The first of our errors inside ``exc``, looking through exception groups."""
    if isinstance(exc, SmstrioError):
        return exc
    if isinstance(exc, trio.TooSlowError):
        return ServiceError("timed out waiting for a server")
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _smstrio_error(inner)
            if found is not None:
                return found
    return None


def _exit_code(exc: SmstrioError) -> int:
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, ServiceError):
        return EXIT_UNAVAILABLE
    return EXIT_FAILURE


def run_command(
    role: str, common: Common, main: Callable[[], Awaitable[int]], *, clock: trio.abc.Clock | None = None
) -> None:
    """Set up logging and run ``main`` under Trio; turn our errors into one line and an exit code.

    ``clock``: a ``MockClock`` runs the in-memory simulation in virtual time.
    """
    color = False if os.environ.get("NO_COLOR") else None  # no-color.org; else colours on a terminal
    logs.setup(common.log_level, common.log_file, log_format=common.log_format, color=color)
    try:
        with logs.bind(role=role, queue=common.queue):
            code = trio.run(main, clock=clock)
    except (Exception, BaseExceptionGroup) as exc:
        found = _smstrio_error(exc)
        if found is None:
            raise
        _fail(_exit_code(found), str(found))
    if code:
        raise _Stop(code)


@asynccontextmanager
async def open_services(common: Common, *, name: str) -> AsyncIterator[tuple[AmqpBroker, RedisStore]]:
    """The trio-asyncio loop, a broker connection and a stats store, closed in reverse order."""
    # Imported here: the service clients take time to load that simulate and plan need not pay.
    from smstrio.adapters.amqp.broker import AmqpBroker
    from smstrio.adapters.bridge import open_bridge
    from smstrio.adapters.redis.store import RedisStore

    async with open_bridge():
        with trio.fail_after(CONNECT_TIMEOUT_S):
            store = await RedisStore.connect(common.redis_url, common.queue, tls=common.redis_tls)
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                broker = await AmqpBroker.connect(
                    common.amqp_url,
                    name=name,
                    tls=common.amqp_tls,
                    queue_type=common.queue_type,
                    heartbeat=common.amqp_heartbeat,
                )
            try:
                yield broker, store
            finally:
                await broker.aclose()
        finally:
            await store.aclose()


class Stoppable(Protocol):
    """What a role hands to ``task_status`` so that a signal can stop it gracefully."""

    def stop(self) -> None:
        """Take no new work, finish what is in hand, then return."""


async def until_signalled(role: Callable[..., Awaitable[object]], *args: Any) -> int:
    """Run ``role`` under signal handling and return the exit code.

    The first SIGINT/SIGTERM calls ``stop()`` on the handle the role handed to ``task_status``
    (a graceful stop), or cancels the role if it has not started yet; the second cancels it.
    """
    with trio.CancelScope() as hard:
        async with trio.open_nursery() as nursery:
            handle: Stoppable | None = None

            def graceful() -> None:
                if handle is None:
                    nursery.cancel_scope.cancel()
                else:
                    handle.stop()

            await nursery.start(stop_on_signals, graceful, hard)
            handle = await nursery.start(_then_cancel, nursery.cancel_scope, role, *args)
    return EXIT_INTERRUPTED if hard.cancelled_caught else EXIT_OK


async def _then_cancel(
    scope: trio.CancelScope,
    role: Callable[..., Awaitable[object]],
    *args: Any,
    task_status: trio.TaskStatus[Stoppable] = trio.TASK_STATUS_IGNORED,
) -> None:
    await role(*args, task_status=task_status)
    scope.cancel()


class _Trigger:
    """A shutdown trigger (``wait`` returns once ``stop()`` was called)."""

    def __init__(self) -> None:
        self._stopping = trio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def wait(self) -> None:
        await self._stopping.wait()


async def stop_by_trigger(
    role: Callable[..., Awaitable[object]],
    *args: Any,
    task_status: trio.TaskStatus[Stoppable] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``role(*args, shutdown_trigger=...)``, a role in hypercorn's style that hands back no handle;
    hand ``task_status`` a handle whose ``stop()`` fires that trigger."""
    trigger = _Trigger()
    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(role, *args, shutdown_trigger=trigger.wait))
        task_status.started(trigger)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``smstrio`` console script."""
    try:
        app(sys.argv[1:] if argv is None else argv, exit_on_error=False, print_error=False)
    except cyclopts.CycloptsError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"smstrio: error: {message} (see smstrio --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except ConfigError as exc:
        print(f"smstrio: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except _Stop as stop:
        sys.exit(stop.code)
