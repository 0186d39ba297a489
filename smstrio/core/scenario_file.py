"""Scenarios from text, no I/O but reading the file: TOML scenario files and ``--sender`` specs.

A scenario comes from flags (``--sender`` specs) or from a TOML file::

    # campaign.toml
    messages = 10000          # alerts to publish (default 1000), all at once at the start
    seed = 7                  # optional: the same seed gives the same run
    # fleet_rate_limit = 1000 # optional: sends per second of all senders together (send --fleet-rate-limit)

    # [arrivals]              # optional: messages arrive steadily instead of all at once
    # rate = 50               # messages per second
    # duration = 200          # seconds of arrivals: rate x duration messages, instead of messages
    # process = "poisson"     # poisson (exponential gaps, the default) or constant (1 / rate apart)

    [thresholds]              # all optional; a crossed threshold fails the run (exit 1)
    max_p99_s = 1.5           # 99th percentile of the send time, seconds
    max_failure_rate = 0.15   # failed / (sent + failed)
    max_duration_s = 120      # from the first publish to the last outcome recorded, seconds
    max_p99_latency_s = 10    # 99th percentile of the end-to-end latency (creation to outcome), seconds

    [[senders]]               # one table per sender process; default: one sender of 50 workers
    name = "fast"             # optional; default sender-1, sender-2, ...
    workers = 50              # concurrent sends (default 50)
    mean = 0.2                # mean send time, seconds (default 0.1)
    failure_rate = 0.1        # probability that a send fails (default 0.1)
    distribution = "normal"   # exponential (default), normal, uniform or constant
    max_attempts = 3          # attempts per message, as send --max-attempts (default 1: no retries)
    retry_delay = 1.0         # seconds before a retry, doubling per attempt (default 1)
    rate_limit = 200          # optional: sends per second of this sender (send --rate-limit)

    [[senders]]
    workers = 10
    mean = 1.0

Keys may be spelt with ``-`` or ``_``. A ``--sender`` spec has the same keys as a
``[[senders]]`` table, comma-separated: ``workers=50,mean=0.2,failure-rate=0.1,distribution=normal``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError
from smstrio.core.scenario import ArrivalProcess, Arrivals, Scenario, SenderProfile, Thresholds

T = TypeVar("T")

_SENDER_KEYS = ("name", "workers", "mean", "failure_rate", "distribution", "max_attempts", "retry_delay", "rate_limit")
_THRESHOLD_KEYS = ("max_p99_s", "max_failure_rate", "max_duration_s", "max_p99_latency_s")
_ARRIVAL_KEYS = ("rate", "duration", "process")
_TOP_KEYS = ("messages", "seed", "fleet_rate_limit", "senders", "thresholds", "arrivals")


def _key(raw: str) -> str:
    return raw.strip().replace("-", "_")


def _spelled(keys: tuple[str, ...]) -> str:
    return ", ".join(k.replace("_", "-") for k in keys)


def _convert(key: str, value: Any) -> Any:
    """``value`` as the type of field ``key``; raise ``ValueError`` saying what was expected."""
    if key in ("workers", "messages", "seed", "max_attempts"):
        if isinstance(value, str):
            value = value.strip()
            if not value.lstrip("-").isdigit():
                raise ValueError(f"expected an integer, got {value!r}")
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if key in (
        "mean",
        "failure_rate",
        "retry_delay",
        "rate_limit",
        "fleet_rate_limit",
        "rate",
        "duration",
        *_THRESHOLD_KEYS,
    ):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if key in ("distribution", "process"):
        kind = Distribution if key == "distribution" else ArrivalProcess
        try:
            return kind(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"expected one of {', '.join(k.value for k in kind)}, got {value!r}") from None
    if key == "name":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value.strip()
    raise AssertionError(key)


def _fields(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for raw, value in table.items():
        key = _key(raw)
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {raw!r} (expected {_spelled(allowed)})")
        if key in fields:
            raise ConfigError(f"{where}: {raw!r} given twice")
        try:
            fields[key] = _convert(key, value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {raw}: {exc}") from None
    return fields


def _build(cls: Callable[..., T], fields: dict[str, Any], where: str) -> T:
    try:
        return cls(**fields)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_sender_spec(spec: str, base: SenderProfile | None = None) -> SenderProfile:
    """A profile from ``workers=50,mean=0.2,failure-rate=0.1,distribution=normal``; other keys from ``base``."""
    where = f"--sender {spec!r}"
    table: dict[str, str] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{where}: expected KEY=VALUE pairs separated by commas, got {item.strip()!r}")
        if key.strip() in table:
            raise ConfigError(f"{where}: {key.strip()!r} given twice")
        table[key.strip()] = value.strip()
    if not table:
        raise ConfigError(f"{where}: empty; expected KEY=VALUE pairs such as workers=50,mean=0.2")
    fields = _fields(table, _SENDER_KEYS, where)
    try:
        return replace(base or SenderProfile(), **fields)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def scenario_from_mapping(data: Mapping[str, Any], source: str) -> Scenario:
    """A scenario from parsed TOML; errors start with ``source`` and name the key."""
    tables = ("senders", "thresholds", "arrivals")
    top = _fields({k: v for k, v in data.items() if _key(k) not in tables}, _TOP_KEYS, source)
    fields: dict[str, Any] = dict(top)
    for raw, value in data.items():
        key = _key(raw)
        if key == "thresholds":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: thresholds: expected a table [thresholds]")
            where = f"{source}: thresholds"
            fields["thresholds"] = _build(Thresholds, _fields(value, _THRESHOLD_KEYS, where), where)
        elif key == "senders":
            if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
                raise ConfigError(f"{source}: senders: expected tables [[senders]]")
            profiles = []
            for number, table in enumerate(value, 1):
                where = f"{source}: senders[{number}]"
                profiles.append(_build(SenderProfile, _fields(table, _SENDER_KEYS, where), where))
            fields["senders"] = tuple(profiles)
        elif key == "arrivals":
            where = f"{source}: arrivals"
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: expected a table [arrivals]")
            steady = _fields(value, _ARRIVAL_KEYS, where)
            if "rate" not in steady:
                raise ConfigError(f"{where}: rate (messages per second) is required")
            duration = steady.pop("duration", None)
            fields["arrivals"] = _build(Arrivals, steady, where)
            if duration is not None:
                if "messages" in fields:
                    raise ConfigError(f"{where}: give messages or a duration of arrivals, not both")
                fields["messages"] = arrival_messages(fields["arrivals"].rate, duration, where)
    return _build(Scenario, fields, source)


def arrival_messages(rate: float, duration: float, where: str) -> int:
    """The messages that ``rate`` per second for ``duration`` seconds make: ``round(rate * duration)``."""
    if not (math.isfinite(duration) and duration > 0):
        raise ConfigError(f"{where}: duration must be a number > 0 seconds, got {duration}")
    return round(rate * duration)


def load_scenario(path: Path) -> Scenario:
    """Read a TOML scenario file (format in this module's docstring)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read the scenario: {reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return scenario_from_mapping(data, str(path))
