"""The campaigns that simulate's and plan's flags describe: each a scenario, built and checked here once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError
from smstrio.core.scenario import ArrivalProcess, Arrivals, Scenario, SenderProfile, Thresholds
from smstrio.core.scenario_file import arrival_messages, parse_sender_spec


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderDefaults:
    """``--workers``, ``--mean``, ``--failure-rate``, ``--distribution``, ``--max-attempts``, ``--retry-delay``,
    ``--rate-limit``: each set over every sender profile."""

    workers: int | None = None
    mean: float | None = None
    failure_rate: float | None = None
    distribution: Distribution | None = None
    max_attempts: int | None = None
    retry_delay: float | None = None
    rate_limit: float | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def simulated_campaign(
    base: Scenario,
    *,
    messages: int | None,
    defaults: SenderDefaults,
    senders: Sequence[str] | None,
    arrival_rate: float | None,
    arrivals: ArrivalProcess | None,
    duration: float | None,
    seed: int | None,
    limits: Thresholds,
    fleet_rate_limit: float | None = None,
) -> Scenario:
    """``base`` (a scenario file's, or the default) with the flags given over it."""
    given = defaults.given()
    if senders:
        profiles = tuple(parse_sender_spec(spec, SenderProfile(**given)) for spec in senders)
    else:
        profiles = tuple(replace(p, **given) for p in base.senders)
    steady = _arrivals(base.arrivals, arrival_rate, arrivals)
    count = messages if messages is not None else base.messages
    if duration is not None:
        if steady is None or messages is not None:
            raise ConfigError("--duration gives the seconds of arrivals: it needs --arrival-rate, and no --messages")
        count = arrival_messages(steady.rate, duration, "--duration")
    limited = {k: v for k, v in asdict(limits).items() if v is not None}
    return Scenario(
        messages=count,
        senders=profiles,
        seed=seed if seed is not None else base.seed,
        thresholds=replace(base.thresholds, **limited),
        arrivals=steady,
        fleet_rate_limit=fleet_rate_limit if fleet_rate_limit is not None else base.fleet_rate_limit,
    )


def _arrivals(base: Arrivals | None, rate: float | None, process: ArrivalProcess | None) -> Arrivals | None:
    """The scenario's arrivals with the flags given over them; ``None``: loaded at once."""
    if rate is None and base is None:
        if process is not None:
            raise ConfigError("--arrivals spaces steady arrivals: it needs --arrival-rate")
        return None
    flags: dict[str, Any] = {k: v for k, v in (("rate", rate), ("process", process)) if v is not None}
    return replace(base, **flags) if base is not None else Arrivals(**flags)


def planned_profiles(
    base: Scenario | None,
    senders: Sequence[str] | None,
    *,
    mean: float | None,
    failure_rate: float,
    distribution: Distribution,
    retries: SenderDefaults = SenderDefaults(),
) -> tuple[SenderProfile, ...]:
    """The profiles plan scales: ``--sender`` specs (``--mean`` and the rest fill what they leave out), else the
    scenario file's, else one profile of ``--mean``. ``retries`` (``--max-attempts``, ``--retry-delay``,
    ``--rate-limit``) are set over every profile, a scenario file's too."""
    given = SenderDefaults(mean=mean, failure_rate=failure_rate, distribution=distribution).given()
    given |= retries.given()
    if senders:
        return tuple(parse_sender_spec(spec, SenderProfile(**given)) for spec in senders)
    if base is not None:
        return tuple(replace(p, **retries.given()) for p in base.senders)
    if mean is None:
        raise ConfigError("plan needs --mean, or sender profiles from --sender or --scenario")
    return (SenderProfile(workers=1, **given),)


def planned_campaign(
    senders: tuple[SenderProfile, ...],
    *,
    base: Scenario | None,
    seed: int | None,
    messages: int | None,
    target_duration: float | None,
    arrival_rate: float | None,
    arrivals: ArrivalProcess,
    duration: float | None,
    max_p99_latency: float | None,
    fleet_rate_limit: float | None = None,
) -> tuple[Scenario, dict[str, Any]]:
    """The campaign of plan's one question, and the question's terms for its JSON. Without question flags, a
    scenario file (``base``) may ask it: its [arrivals] and max_p99_latency_s, or its messages and max_duration_s."""
    seed = seed if seed is not None else base.seed if base is not None else None
    if fleet_rate_limit is None and base is not None:
        fleet_rate_limit = base.fleet_rate_limit
    flagged = (messages, target_duration, arrival_rate, duration, max_p99_latency)
    if base is not None and all(v is None for v in flagged):
        limits, steady = base.thresholds, base.arrivals
        if steady is not None and limits.max_p99_latency_s is not None:
            arrival_rate, arrivals, max_p99_latency = steady.rate, steady.process, limits.max_p99_latency_s
            duration = base.messages / steady.rate
        elif steady is None and limits.max_duration_s is not None:
            messages, target_duration = base.messages, limits.max_duration_s
    drain = messages is not None or target_duration is not None
    if drain == any(v is not None for v in (arrival_rate, duration, max_p99_latency)):
        raise ConfigError(
            "plan asks one question: --messages N --target-duration S (a drain), "
            "or --arrival-rate R --duration S --max-p99-latency L (steady arrivals)"
        )
    if drain:
        if messages is None or target_duration is None:
            raise ConfigError("a drain needs both --messages and --target-duration")
        if not target_duration > 0:
            raise ConfigError(f"target duration must be > 0 seconds, got {target_duration}")
        limits = Thresholds(max_duration_s=target_duration)
        loaded = Scenario(
            messages=messages, senders=senders, seed=seed, thresholds=limits, fleet_rate_limit=fleet_rate_limit
        )
        return loaded, {"target_duration_s": target_duration}
    if arrival_rate is None or duration is None or max_p99_latency is None:
        raise ConfigError("steady arrivals need --arrival-rate, --duration and --max-p99-latency")
    steady = Arrivals(rate=arrival_rate, process=arrivals)
    campaign = Scenario(
        messages=arrival_messages(steady.rate, duration, "--duration"),
        senders=senders,
        seed=seed,
        thresholds=Thresholds(max_p99_latency_s=max_p99_latency),
        arrivals=steady,
        fleet_rate_limit=fleet_rate_limit,
    )
    question = {"arrival_rate_per_s": arrival_rate, "arrivals": arrivals.value, "duration_s": duration}
    return campaign, {**question, "max_p99_latency_s": max_p99_latency}


def check_scaling(campaign: Scenario, *, scale: str | None, workers_per_process: int | None, max_workers: int) -> None:
    """``--scale`` names a profile; ``--workers-per-process`` fits ``--max-workers`` and scales one profile."""
    if workers_per_process is not None:
        if not 1 <= workers_per_process <= max_workers:
            raise ConfigError(
                f"workers per process must be within 1..{max_workers} (--max-workers), got {workers_per_process}"
            )
        if len(campaign.senders) > 1 or scale is not None:
            raise ConfigError("--workers-per-process scales one sender profile: give no --scale and one profile")
    if scale is not None and scale not in campaign.sender_names:
        raise ConfigError(
            f"--scale {scale!r} names no sender profile (the profiles: {', '.join(campaign.sender_names)})"
        )
