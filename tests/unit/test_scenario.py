"""Unit tests for the simulation's scenario model and its parsers (--sender specs, scenario files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError
from smstrio.core.scenario import ArrivalProcess, Arrivals, Scenario, SenderProfile, Thresholds
from smstrio.core.scenario_file import load_scenario, parse_sender_spec


def _constant(workers: int, mean: float, *, failure_rate: float = 0.0, name: str | None = None) -> SenderProfile:
    return SenderProfile(
        name=name, workers=workers, mean=mean, failure_rate=failure_rate, distribution=Distribution.CONSTANT
    )


EXAMPLE_TOML = """
messages = 10000
seed = 7

[thresholds]
max_p99_s = 1.5
max_failure_rate = 0.15
max_duration_s = 120

[[senders]]
name = "fast"
workers = 50
mean = 0.2
failure_rate = 0.1
distribution = "normal"

[[senders]]
workers = 10
mean = 1
"""


def test_sender_spec_sets_every_key() -> None:
    """A full --sender spec, with - or _ in key names, gives exactly that profile."""
    profile = parse_sender_spec("workers=50, mean=0.2,failure-rate=0.1,distribution=NORMAL,name=fast")
    assert profile == SenderProfile(
        name="fast", workers=50, mean=0.2, failure_rate=0.1, distribution=Distribution.NORMAL
    )
    assert parse_sender_spec("failure_rate=0.3").failure_rate == 0.3


def test_sender_spec_takes_missing_keys_from_base() -> None:
    """Keys a spec leaves out come from the base profile."""
    base = SenderProfile(workers=3, mean=4.0, failure_rate=0.5, distribution=Distribution.UNIFORM)
    assert parse_sender_spec("mean=1", base) == SenderProfile(
        workers=3, mean=1.0, failure_rate=0.5, distribution=Distribution.UNIFORM
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("workers=many", "--sender 'workers=many': workers: expected an integer, got 'many'"),
        (
            "speed=3",
            "unknown key 'speed' (expected name, workers, mean, failure-rate, distribution, max-attempts, "
            "retry-delay, rate-limit)",
        ),
        ("workers", "expected KEY=VALUE pairs separated by commas, got 'workers'"),
        ("workers=0", "--sender 'workers=0': workers must be within 1..100000, got 0"),
        ("failure-rate=2", "failure rate must be within 0..1, got 2.0"),
        ("mean=nan", "mean must be a number >= 0 seconds, got nan"),
        ("distribution=weird", "expected one of exponential, normal, uniform, constant, got 'weird'"),
        ("mean=1,mean=2", "'mean' given twice"),
        (" , ", "empty"),
    ],
)
def test_bad_sender_spec_says_what_is_wrong(spec: str, message: str) -> None:
    """A malformed --sender spec raises ConfigError quoting the spec and naming the key."""
    with pytest.raises(ConfigError) as info:
        parse_sender_spec(spec)
    assert message in str(info.value)


def test_scenario_file_gives_the_documented_scenario(tmp_path: Path) -> None:
    """The TOML format of the scenario module's docstring loads into the matching Scenario."""
    path = tmp_path / "campaign.toml"
    path.write_text(EXAMPLE_TOML)
    assert load_scenario(path) == Scenario(
        messages=10000,
        seed=7,
        thresholds=Thresholds(max_p99_s=1.5, max_failure_rate=0.15, max_duration_s=120.0),
        senders=(
            SenderProfile(name="fast", workers=50, mean=0.2, failure_rate=0.1, distribution=Distribution.NORMAL),
            SenderProfile(workers=10, mean=1.0),
        ),
    )


def test_scenario_file_arrivals_give_rate_times_duration_messages(tmp_path: Path) -> None:
    """[arrivals] with a rate and a duration makes rate x duration messages arriving steadily, spaced as named."""
    path = tmp_path / "steady.toml"
    path.write_text(
        '[arrivals]\nrate = 50\nduration = 200.5\nprocess = "constant"\n[thresholds]\nmax-p99-latency-s = 2\n'
    )
    assert load_scenario(path) == Scenario(
        messages=10025,
        arrivals=Arrivals(rate=50.0, process=ArrivalProcess.CONSTANT),
        thresholds=Thresholds(max_p99_latency_s=2.0),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[senders]]\nworkers = "many"\n', "s.toml: senders[1]: workers: expected an integer, got 'many'"),
        ("[[senders]]\n[[senders]]\nworkers = 0\n", "s.toml: senders[2]: workers must be within 1..100000, got 0"),
        ("messages = 0\n", "s.toml: messages must be within 1..10000000, got 0"),
        ("messages = 1.5\n", "s.toml: messages: expected an integer, got 1.5"),
        ("[thresholds]\nmax_p99 = 1\n", "s.toml: thresholds: unknown key 'max_p99'"),
        ("[thresholds]\nmax_failure_rate = 2\n", "s.toml: thresholds: max_failure_rate must be within 0..1"),
        ("thresholds = 3\n", "s.toml: thresholds: expected a table [thresholds]"),
        ("senders = 3\n", "s.toml: senders: expected tables [[senders]]"),
        ("senders = []\n", "s.toml: a scenario needs 1 to 1000 senders, got 0"),
        ('[[senders]]\nname = "a"\n[[senders]]\nname = "a"\n', "s.toml: sender names must differ, got a, a"),
        (
            "speed = 3\n",
            "s.toml: unknown key 'speed' (expected messages, seed, fleet-rate-limit, senders, thresholds, arrivals)",
        ),
        ("messages = \n", "s.toml: invalid TOML: "),
        ("messages = 5\n[arrivals]\nrate = 1\nduration = 5\n", "s.toml: arrivals: give messages or a duration"),
        ("[arrivals]\nduration = 5\n", "s.toml: arrivals: rate (messages per second) is required"),
        ("[arrivals]\nrate = 0\n", "s.toml: arrivals: arrival rate must be a number > 0, got 0.0"),
        ("[arrivals]\nrate = 1\nduration = -1\n", "s.toml: arrivals: duration must be a number > 0 seconds"),
        ('[arrivals]\nrate = 1\nprocess = "burst"\n', "s.toml: arrivals: process: expected one of poisson, constant"),
        ("arrivals = 3\n", "s.toml: arrivals: expected a table [arrivals]"),
    ],
)
def test_bad_scenario_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    """A wrong scenario file raises ConfigError starting with the file and naming the key."""
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value).startswith(str(tmp_path))
    assert message in str(info.value)


def test_missing_scenario_file_is_a_config_error(tmp_path: Path) -> None:
    """A scenario file that cannot be read raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read the scenario: No such file"):
        load_scenario(tmp_path / "nope.toml")


def test_scenario_ideal_duration_combines_sender_rates() -> None:
    """The ideal duration is messages over the sum of workers/mean; 0 when some mean is 0."""
    assert Scenario(messages=3000, senders=(_constant(10, 1.0), _constant(10, 2.0))).ideal_duration_s == 200.0
    assert Scenario(senders=(_constant(1, 0.0),)).ideal_duration_s == 0.0


def test_scenario_file_and_spec_take_retries_and_limits(tmp_path: Path) -> None:
    """max_attempts, retry_delay and rate_limit per sender, fleet_rate_limit per scenario, as send's flags."""
    path = tmp_path / "s.toml"
    path.write_text(
        "fleet-rate-limit = 500\n[[senders]]\nmax_attempts = 3\nretry_delay = 0.5\nrate_limit = 120\n",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    spec = parse_sender_spec("max-attempts=4,retry-delay=2,rate-limit=7.5")

    assert scenario.fleet_rate_limit == 500.0
    assert (scenario.senders[0].max_attempts, scenario.senders[0].retry_delay, scenario.senders[0].rate_limit) == (
        3,
        0.5,
        120.0,
    )
    assert (spec.max_attempts, spec.retry_delay, spec.rate_limit) == (4, 2.0, 7.5)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("max-attempts=0", "max attempts must be within 1..100, got 0"),
        ("retry-delay=-1", "retry delay must be within 0..3600 seconds, got -1.0"),
        ("rate-limit=0", "rate limit must be > 0 and at most 1,000,000 messages per second, got 0.0"),
        ("rate-limit=2000000", "rate limit must be > 0 and at most 1,000,000 messages per second, got 2000000.0"),
    ],
)
def test_bad_retries_and_limits_say_what_is_wrong(spec: str, message: str) -> None:
    """Out-of-range retries and limits are one readable error naming the value."""
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_sender_spec(spec)


@pytest.mark.parametrize(
    ("failure_rate", "max_attempts", "mean_attempts"),
    [(0.0, 5, 1.0), (0.5, 1, 1.0), (0.5, 3, 1.75), (0.1, 2, 1.1), (1.0, 4, 4.0)],
)
def test_mean_attempts_sums_the_chances_of_each_retry(
    failure_rate: float, max_attempts: int, mean_attempts: float
) -> None:
    """Mean sends per message: 1 + p + ... + p**(K-1), K when every send fails."""
    profile = SenderProfile(failure_rate=failure_rate, max_attempts=max_attempts)

    assert profile.mean_attempts == pytest.approx(mean_attempts)
