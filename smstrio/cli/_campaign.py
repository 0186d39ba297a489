"""The campaigns that simulate's flags describe: each a scenario, built and checked here once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from smstrio.core.distributions import Distribution
from smstrio.core.scenario import Scenario, SenderProfile, Thresholds
from smstrio.core.scenario_file import parse_sender_spec


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderDefaults:
    """``--workers``, ``--mean``, ``--failure-rate``, ``--distribution``: each set over every sender profile."""

    workers: int | None = None
    mean: float | None = None
    failure_rate: float | None = None
    distribution: Distribution | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def simulated_campaign(
    base: Scenario,
    *,
    messages: int | None,
    defaults: SenderDefaults,
    senders: Sequence[str] | None,
    seed: int | None,
    limits: Thresholds,
) -> Scenario:
    """``base`` (a scenario file's, or the default) with the flags given over it."""
    given = defaults.given()
    if senders:
        profiles = tuple(parse_sender_spec(spec, SenderProfile(**given)) for spec in senders)
    else:
        profiles = tuple(replace(p, **given) for p in base.senders)
    limited = {k: v for k, v in asdict(limits).items() if v is not None}
    return Scenario(
        messages=messages if messages is not None else base.messages,
        senders=profiles,
        seed=seed if seed is not None else base.seed,
        thresholds=replace(base.thresholds, **limited),
    )
