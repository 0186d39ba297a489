"""The ``smstrio`` command line: parse flags once, build settings, run one role under Trio.

Exit codes:
    0    done
    1    failed: not every message was confirmed, or an unexpected error
    2    usage: a bad flag, environment variable or .env value
    3    a server is unreachable, or the connection to it was lost
    130  stopped hard by a second SIGINT/SIGTERM
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, NoReturn

import cyclopts
import trio
import trio.testing
from cyclopts import Parameter

from smstrio import __version__, logs
from smstrio.adapters.amqp import AmqpBroker
from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redisstore import RedisStore
from smstrio.config import (
    Common,
    MonitorSettings,
    ProducerSettings,
    SenderSettings,
    Sources,
    as_distribution,
    as_float,
    as_int,
)
from smstrio.distributions import Distribution, sampler
from smstrio.errors import ConfigError, PublishError, ServiceError, SmstrioError
from smstrio.gateway import SimulatedGateway
from smstrio.monitor import collect, run_monitor
from smstrio.nursery.signals import stop_on_signals
from smstrio.producer import run_producer
from smstrio.scenario import Scenario, SenderProfile, Thresholds, load_scenario, parse_sender_spec
from smstrio.sender import run_sender
from smstrio.simulate import Simulation, SimulationSummary, fewest_workers, render, run_simulation

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
class ServiceFlags:
    """Flags every command shares. Each falls back to its environment variable, then ``.env``."""

    amqp_url: str | None = None
    "RabbitMQ URL [env AMQP_URL, or RABBITMQ_HOST; default amqp://guest:guest@localhost:5672/]."
    redis_url: str | None = None
    "Redis URL [env REDIS_URL, or REDIS_HOST; default redis://localhost:6379/0]."
    queue: str | None = None
    "Queue name; statistics are kept per queue [env QUEUE_NAME; default sms_queue]."
    log_level: str | None = None
    "DEBUG, INFO, WARNING or ERROR [env LOG_LEVEL; default INFO]."
    log_file: Path | None = None
    "Also append the JSON log lines to this file [env LOG_FILE]."

    def resolve(self, src: Sources) -> Common:
        return Common.resolve(
            src,
            amqp_url=self.amqp_url,
            redis_url=self.redis_url,
            queue=self.queue,
            log_level=self.log_level,
            log_file=self.log_file,
        )


_DEFAULT_FLAGS = ServiceFlags()


class _Stop(Exception):
    """Carries an exit code out of a command."""

    def __init__(self, code: int) -> None:
        self.code = code


def _sources() -> Sources:
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


def _run(role: str, common: Common, main: Callable[[], Awaitable[int]], *, clock: trio.abc.Clock | None = None) -> None:
    """Set up logging and run ``main`` under Trio; turn our errors into one line and an exit code.

    ``clock``: a ``MockClock`` runs the in-memory simulation in virtual time.
    """
    logs.setup(common.log_level, common.log_file)
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
async def _services(common: Common, *, name: str) -> AsyncIterator[tuple[AmqpBroker, RedisStore]]:
    """The trio-asyncio loop, a broker connection and a stats store, closed in reverse order."""
    async with open_bridge():
        with trio.fail_after(CONNECT_TIMEOUT_S):
            store = await RedisStore.connect(common.redis_url, common.queue)
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                broker = await AmqpBroker.connect(common.amqp_url, name=name)
            try:
                yield broker, store
            finally:
                await broker.aclose()
        finally:
            await store.aclose()


async def _until_signalled(role: Callable[..., Awaitable[Any]], *args: Any) -> int:
    """Run ``role`` under signal handling and return the exit code.

    The first SIGINT/SIGTERM calls ``stop()`` on what the role handed to ``task_status``
    (a graceful stop), or cancels the role if it has no ``stop``; the second cancels it.
    """
    with trio.CancelScope() as hard:
        async with trio.open_nursery() as nursery:
            handle: list[Any] = []

            def graceful() -> None:
                stop = getattr(handle[0], "stop", None) if handle else None
                if stop is not None:
                    stop()
                else:
                    nursery.cancel_scope.cancel()

            await nursery.start(stop_on_signals, graceful, hard)
            handle.append(await nursery.start(_then_cancel, nursery.cancel_scope, role, *args))
    return EXIT_INTERRUPTED if hard.cancelled_caught else EXIT_OK


async def _then_cancel(
    scope: trio.CancelScope,
    role: Callable[..., Awaitable[Any]],
    *args: Any,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    await role(*args, task_status=task_status)
    scope.cancel()


@app.command
def produce(
    count: Annotated[int | None, Parameter(name=["--count", "--num-messages"])] = None,
    *,
    window: int | None = None,
    seed: int | None = None,
    flags: ServiceFlags = _DEFAULT_FLAGS,
) -> None:
    """Publish COUNT random SMS alerts, persistent and confirmed, then print a JSON summary.

    Parameters
    ----------
    count
        How many alerts to publish [default 1000].
    window
        Publishes in flight at once, awaiting their confirms [env PRODUCER_WINDOW; default 1000].
    seed
        Seed the random generator for a reproducible campaign.
    """
    src = _sources()
    settings = ProducerSettings(
        common=flags.resolve(src),
        count=count if count is not None else 1000,
        window=src.pick(window, ("PRODUCER_WINDOW",), as_int, 1000),
        seed=seed,
    )

    async def main() -> int:
        async with _services(settings.common, name="smstrio produce") as (broker, store):
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(stop_on_signals, scope.cancel, scope)
                    summary = await run_producer(settings, broker, store)
                    nursery.cancel_scope.cancel()
            if scope.cancelled_caught:
                raise PublishError("interrupted; the messages confirmed so far are counted in produced")
            print(json.dumps(summary.to_json()), flush=True)
        return EXIT_OK

    _run("producer", settings.common, main)


@app.command
def send(
    *,
    workers: int | None = None,
    mean: float | None = None,
    failure_rate: float | None = None,
    distribution: Distribution | None = None,
    prefetch: int | None = None,
    grace: float | None = None,
    max_attempts: int | None = None,
    retry_delay: float | None = None,
    until_empty: bool = False,
    seed: int | None = None,
    flags: ServiceFlags = _DEFAULT_FLAGS,
) -> None:
    """Consume alerts and simulate sending them; record each outcome in Redis, then acknowledge.

    Parameters
    ----------
    workers
        Concurrent simulated sends [env SENDER_WORKERS; default 20].
    mean
        Mean simulated send time in seconds, 0 allowed [env MEAN_PROCESSING_TIME; default 2].
    failure_rate
        Probability that a send fails, 0 to 1 [env FAILURE_RATE; default 0.1].
    distribution
        How send times are drawn around the mean [env SEND_DISTRIBUTION; default exponential].
    prefetch
        Unacknowledged deliveries held at once [env SENDER_PREFETCH; default: twice the worker count].
    grace
        On SIGINT/SIGTERM, seconds to let in-flight sends finish [env SENDER_GRACE; default 30].
    max_attempts
        Attempts at each send; a failed attempt before the last is retried later through the queue
        <queue>.retry and counted in "retried" [env SENDER_MAX_ATTEMPTS; default 1: no retries].
    retry_delay
        Seconds before the first retry, doubling for each further one [env SENDER_RETRY_DELAY; default 1].
    until_empty
        Stop by itself once the queue (and its retries) is empty and every delivery is settled.
    seed
        Seed the random generator (send times and failures).
    """
    src = _sources()
    settings = SenderSettings(
        common=flags.resolve(src),
        workers=src.pick(workers, ("SENDER_WORKERS",), as_int, 20),
        mean=src.pick(mean, ("MEAN_PROCESSING_TIME",), as_float, 2.0),
        failure_rate=src.pick(failure_rate, ("FAILURE_RATE",), as_float, 0.1),
        distribution=src.pick(distribution, ("SEND_DISTRIBUTION",), as_distribution, Distribution.EXPONENTIAL),
        prefetch=src.pick(prefetch, ("SENDER_PREFETCH",), as_int, None),
        grace=src.pick(grace, ("SENDER_GRACE",), as_float, 30.0),
        max_attempts=src.pick(max_attempts, ("SENDER_MAX_ATTEMPTS",), as_int, 1),
        retry_delay=src.pick(retry_delay, ("SENDER_RETRY_DELAY",), as_float, 1.0),
        until_empty=until_empty,
        seed=seed,
    )
    rng = random.Random(seed)
    gateway = SimulatedGateway(sampler(settings.distribution, settings.mean, rng), settings.failure_rate, rng)

    async def main() -> int:
        async with _services(settings.common, name="smstrio send") as (broker, store):
            return await _until_signalled(run_sender, settings, broker, store, gateway)

    _run("sender", settings.common, main)


@app.command
def monitor(
    *,
    interval: Annotated[float | None, Parameter(name=["--interval", "--update-interval"])] = None,
    host: str | None = None,
    port: int | None = None,
    flags: ServiceFlags = _DEFAULT_FLAGS,
) -> None:
    """Log the statistics as a JSON line every interval and serve them over HTTP (/stats, /healthz).

    Parameters
    ----------
    interval
        Seconds between statistics lines [env MONITOR_UPDATE_INTERVAL; default 5].
    host
        Address the HTTP server binds [env MONITOR_HOST; default 127.0.0.1].
    port
        HTTP port, 0 for any free one [env MONITOR_PORT; default 8080].
    """
    src = _sources()
    settings = MonitorSettings(
        common=flags.resolve(src),
        interval=src.pick(interval, ("MONITOR_UPDATE_INTERVAL",), as_float, 5.0),
        host=src.pick(host, ("MONITOR_HOST",), str, "127.0.0.1"),
        port=src.pick(port, ("MONITOR_PORT",), as_int, 8080),
    )

    async def main() -> int:
        async with _services(settings.common, name="smstrio monitor") as (broker, store):
            return await _until_signalled(run_monitor, settings, broker, store)

    _run("monitor", settings.common, main)


@app.command
def stats(*, flags: ServiceFlags = _DEFAULT_FLAGS) -> None:
    """Print the current statistics of the queue once, as one JSON object."""
    common = flags.resolve(_sources())

    async def main() -> int:
        async with _services(common, name="smstrio stats") as (broker, store):
            snap = await collect(common.queue, broker, store)
        print(json.dumps(snap.to_json()), flush=True)
        return EXIT_OK

    _run("stats", common, main)


@app.command
def dead(*, requeue: bool = False, limit: int = 100, flags: ServiceFlags = _DEFAULT_FLAGS) -> None:
    """List the queue's dead letters (malformed messages) as JSON lines, or move them back with --requeue.

    Parameters
    ----------
    requeue
        Move the dead letters back to the queue instead of listing them.
    limit
        At most this many dead letters [default 100].
    """
    common = flags.resolve(_sources())
    if limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit}")

    async def main() -> int:
        async with _services(common, name="smstrio dead") as (broker, _):
            await broker.declare(common.queue)
            if requeue:
                moved = await broker.requeue_dead(common.queue, limit)
                print(json.dumps({"queue": common.queue, "requeued": moved}), flush=True)
                return EXIT_OK
            for letter in await broker.dead_letters(common.queue, limit):
                body = letter.body[:DEAD_BODY_SHOWN].decode("utf-8", errors="replace")
                print(json.dumps({"message_id": letter.message_id, "reason": letter.reason, "body": body}), flush=True)
        return EXIT_OK

    _run("dead", common, main)


@app.command
def reset(*, flags: ServiceFlags = _DEFAULT_FLAGS) -> None:
    """Delete the queue's statistics in Redis (not its messages), to start counting afresh."""
    common = flags.resolve(_sources())

    async def main() -> int:
        async with _services(common, name="smstrio reset") as (_, store):
            deleted = await store.reset()
        print(json.dumps({"queue": common.queue, "deleted_keys": deleted}), flush=True)
        return EXIT_OK

    _run("reset", common, main)


def _virtual_clock(virtual: bool) -> trio.abc.Clock | None:
    return trio.testing.MockClock(autojump_threshold=0) if virtual else None


def _log_settings(log_level: str | None, log_file: Path | None) -> Common:
    """Only the logging settings: the simulation talks to no server."""
    src = _sources()
    return Common(
        log_level=src.pick(log_level, ("LOG_LEVEL",), str, "INFO").upper(),
        log_file=src.pick(log_file, ("LOG_FILE",), Path, None),
    )


@app.command
def simulate(
    *,
    messages: int | None = None,
    workers: int | None = None,
    mean: float | None = None,
    failure_rate: float | None = None,
    distribution: Distribution | None = None,
    sender: Annotated[list[str] | None, Parameter(negative="")] = None,
    scenario: Path | None = None,
    virtual_time: bool = False,
    json_output: Annotated[bool, Parameter(name="--json")] = False,
    max_p99: float | None = None,
    max_failure_rate: float | None = None,
    max_duration: float | None = None,
    port: int | None = None,
    interval: float | None = None,
    seed: int | None = None,
    log_level: str | None = None,
    log_file: Path | None = None,
) -> None:
    """Simulate a whole campaign in this process on an in-memory broker and store; print a summary.

    Needs no RabbitMQ or Redis: the producer, the senders and the monitor run as in production,
    on in-memory twins. With no options: 1,000 messages, 50 workers, exponential mean 0.1 s, about
    2 seconds. Exit 1 when a threshold is crossed (one line names it) or the run was stopped early.

    Parameters
    ----------
    messages
        Messages to publish [default 1000, or the scenario file's].
    workers
        Workers of each sender [default 50].
    mean
        Mean simulated send time in seconds [default 0.1].
    failure_rate
        Probability that a send fails, 0 to 1 [default 0.1].
    distribution
        How send times are drawn around the mean [default exponential].
    sender
        One sender, repeatable: "workers=50,mean=0.2,failure-rate=0.1,distribution=normal,name=fast".
        Keys not given come from --workers/--mean/--failure-rate/--distribution.
    scenario
        A TOML scenario file (format: ``smstrio/scenario.py``); flags override its values.
    virtual_time
        Run on a virtual clock: no real waiting, durations are simulated seconds.
    json_output
        Print the summary as one JSON object instead of text.
    max_p99
        Threshold: the 99th percentile send time must not exceed this many seconds.
    max_failure_rate
        Threshold: failed / (sent + failed) must not exceed this.
    max_duration
        Threshold: the campaign must end within this many seconds.
    port
        Also serve /stats and /healthz over HTTP on this port while running (0: any free one).
    interval
        Seconds between the monitor's stats lines [default 1; virtual time: a tenth of the ideal duration].
    seed
        Seed for a reproducible run [default: random, printed in the summary].
    log_level
        DEBUG, INFO, WARNING or ERROR [env LOG_LEVEL; default INFO].
    log_file
        Also append the JSON log lines to this file [env LOG_FILE].
    """
    common = _log_settings(log_level, log_file)
    base = load_scenario(scenario) if scenario is not None else Scenario()
    flagged: dict[str, Any] = dict(workers=workers, mean=mean, failure_rate=failure_rate, distribution=distribution)
    defaults = {k: v for k, v in flagged.items() if v is not None}
    if sender:
        profiles = tuple(parse_sender_spec(spec, SenderProfile(**defaults)) for spec in sender)
    else:
        profiles = tuple(replace(p, **defaults) for p in base.senders)
    limits = {"max_p99_s": max_p99, "max_failure_rate": max_failure_rate, "max_duration_s": max_duration}
    campaign = Scenario(
        messages=messages if messages is not None else base.messages,
        senders=profiles,
        seed=seed if seed is not None else base.seed,
        thresholds=replace(base.thresholds, **{k: v for k, v in limits.items() if v is not None}),
    )
    if port is not None and virtual_time:
        raise ConfigError("--port serves HTTP in real time; it cannot be combined with --virtual-time")
    if interval is not None and not interval > 0:
        raise ConfigError(f"interval must be > 0 seconds, got {interval}")
    if interval is None:
        interval = max(1.0, round(campaign.ideal_duration_s / 10)) if virtual_time else 1.0
    summaries: list[SimulationSummary] = []

    async def role(*, task_status: trio.TaskStatus[Simulation] = trio.TASK_STATUS_IGNORED) -> None:
        summaries.append(await run_simulation(campaign, monitor_interval=interval, port=port, task_status=task_status))

    async def main() -> int:
        code = await _until_signalled(role)
        if not summaries:
            return code
        (summary,) = summaries
        print(json.dumps(summary.to_json()) if json_output else render(summary), flush=True)
        if not summary.complete:
            processed = summary.sent + summary.failed
            print(f"smstrio: error: stopped early: {processed} of {summary.messages} processed", file=sys.stderr)
            return EXIT_FAILURE
        for t in summary.thresholds:
            if not t.passed:
                print(f"smstrio: error: threshold {t.name} crossed: {t.actual:g} > {t.limit:g}", file=sys.stderr)
        return EXIT_OK if summary.passed else EXIT_FAILURE

    _run("simulation", common, main, clock=_virtual_clock(virtual_time))


@app.command
def plan(
    *,
    messages: int,
    target_duration: float,
    mean: float,
    failure_rate: float = 0.1,
    distribution: Distribution = Distribution.EXPONENTIAL,
    max_workers: int = 10_000,
    seed: int | None = None,
    json_output: Annotated[bool, Parameter(name="--json")] = False,
    log_level: str | None = None,
    log_file: Path | None = None,
) -> None:
    """Find the fewest workers of one sender that process MESSAGES within the target duration.

    A binary search over virtual-time simulations (same seed for every run); prints the answer and
    the summary of the run that proves it. Exit 1 if even --max-workers workers are too slow.

    Parameters
    ----------
    messages
        Messages in the campaign.
    target_duration
        Seconds within which every message must be processed.
    mean
        Mean simulated send time in seconds.
    failure_rate
        Probability that a send fails, 0 to 1 [default 0.1].
    distribution
        How send times are drawn around the mean [default exponential].
    max_workers
        The most workers to consider [default 10000].
    seed
        Seed for every run [default: random, printed in the summary].
    json_output
        Print one JSON object: the answer, every trial and the proving run's summary.
    log_level
        DEBUG, INFO, WARNING or ERROR [env LOG_LEVEL; default INFO].
    log_file
        Also append the JSON log lines to this file [env LOG_FILE].
    """
    common = _log_settings(log_level, log_file)
    if not target_duration > 0:
        raise ConfigError(f"target duration must be > 0 seconds, got {target_duration}")
    profile = SenderProfile(workers=max_workers, mean=mean, failure_rate=failure_rate, distribution=distribution)
    campaign = Scenario(
        messages=messages, senders=(profile,), seed=seed, thresholds=Thresholds(max_duration_s=target_duration)
    )

    async def main() -> int:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(stop_on_signals, scope.cancel, scope)
                result = await fewest_workers(campaign, max_workers=max_workers)
                nursery.cancel_scope.cancel()
        if scope.cancelled_caught:
            print("smstrio: error: interrupted before an answer", file=sys.stderr)
            return EXIT_INTERRUPTED
        proof = result.proof
        if json_output:
            print(json.dumps({"target_duration_s": target_duration, **result.to_json()}), flush=True)
        else:
            if result.workers is not None:
                print(
                    f"{result.workers} workers: the fewest that process {messages} messages within "
                    f"{target_duration:g} s (simulated {proof.duration_s:g} s)\n"
                )
            print(render(proof), flush=True)
        if result.workers is None:
            print(
                f"smstrio: error: even {max_workers} workers take {proof.duration_s:g} s > {target_duration:g} s",
                file=sys.stderr,
            )
            return EXIT_FAILURE
        return EXIT_OK

    _run("planner", common, main, clock=_virtual_clock(True))


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
