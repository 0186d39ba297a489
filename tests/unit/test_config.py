"""Unit tests for the settings records: validation, redaction, derived values, TLS files."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from smstrio.core.config import Common, MonitorSettings, ProducerSettings, SenderSettings
from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError
from smstrio.core.sources import Sources, as_distribution, as_float, as_int
from smstrio.core.urls import TlsFiles, redact

# Validation.


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mean": -1.0}, "mean must be a number >= 0"),
        ({"mean": math.nan}, "mean must be a number >= 0"),
        ({"mean": math.inf}, "mean must be a number >= 0"),
        ({"failure_rate": 1.5}, "failure rate must be within 0..1"),
        ({"failure_rate": -0.1}, "failure rate must be within 0..1"),
        ({"workers": 0}, "workers must be within 1..100000"),
        ({"workers": 100_001}, "workers must be within 1..100000"),
        ({"prefetch": 0}, "prefetch must be within 1..65535"),
        ({"prefetch": 65536}, "prefetch must be within 1..65535"),
        ({"grace": -1.0}, "grace must be >= 0"),
    ],
)
def test_invalid_sender_settings_raise(changes: dict[str, Any], message: str) -> None:
    """An out-of-range sender setting raises ConfigError saying which setting and why."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        SenderSettings(common=Common(), **changes)


def test_boundary_sender_settings_are_accepted() -> None:
    """The edges of each valid range are accepted."""
    settings = SenderSettings(common=Common(), workers=1, mean=0.0, failure_rate=1.0, prefetch=65535, grace=0.0)
    assert (settings.workers, settings.failure_rate, settings.prefetch) == (1, 1.0, 65535)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": -1}, "message count must be >= 0"),
        ({"window": 0}, "window must be within 1..65535"),
        ({"window": 65536}, "window must be within 1..65535"),
    ],
)
def test_invalid_producer_settings_raise(changes: dict[str, Any], message: str) -> None:
    """An out-of-range producer setting raises ConfigError."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        ProducerSettings(common=Common(), **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"interval": 0.0}, "interval must be > 0"),
        ({"interval": math.nan}, "interval must be > 0"),
        ({"port": 70000}, "port must be within 0..65535"),
        ({"port": -1}, "port must be within 0..65535"),
    ],
)
def test_invalid_monitor_settings_raise(changes: dict[str, Any], message: str) -> None:
    """An out-of-range monitor setting raises ConfigError."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        MonitorSettings(common=Common(), **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amqp_url": "amqp://"}, "malformed AMQP URL 'amqp://'"),
        ({"amqp_url": "localhost:5672"}, "malformed AMQP URL"),
        ({"amqp_url": "http://localhost/"}, "expected amqp://HOST or amqps://HOST"),
        ({"amqp_url": "amqp://localhost:port/"}, "malformed AMQP URL"),
        ({"amqp_url": "amqp://localhost:99999/"}, "malformed AMQP URL"),
        ({"redis_url": "redis://"}, "malformed Redis URL 'redis://'"),
        ({"redis_url": "amqp://localhost/"}, "expected redis://HOST or rediss://HOST"),
        ({"queue": ""}, "invalid queue name ''"),
        ({"queue": "has space"}, "invalid queue name"),
        ({"queue": "a/b"}, "invalid queue name"),
        ({"queue": "{tag}"}, "invalid queue name"),
        ({"queue": "q" * 201}, "invalid queue name"),
        ({"log_level": "VERBOSE"}, "invalid log level 'VERBOSE': one of DEBUG, INFO, WARNING, ERROR"),
        ({"log_format": "pretty"}, "invalid log format 'pretty': one of auto, console, json"),
    ],
)
def test_invalid_common_settings_raise(changes: dict[str, Any], message: str) -> None:
    """A malformed URL, queue name, log level or log format raises ConfigError with a clear message."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        Common(**changes)


@pytest.mark.parametrize("queue", ["sms_queue", "a", "A.b-c_9", "q" * 200])
def test_valid_queue_names_are_accepted(queue: str) -> None:
    """Queue names of 1 to 200 letters, digits, dots, underscores and dashes are accepted."""
    assert Common(queue=queue).queue == queue


def test_malformed_url_error_hides_the_password() -> None:
    """The error for a malformed URL does not reveal its password."""
    with pytest.raises(ConfigError) as info:
        Common(amqp_url="http://user:s3cret@localhost/")
    assert "s3cret" not in str(info.value)
    assert "user:***@localhost" in str(info.value)


@pytest.mark.parametrize(
    ("name", "parse", "raw"),
    [
        ("FAILURE_RATE", as_float, "abc"),
        ("MEAN_PROCESSING_TIME", as_float, "2s"),
        ("SENDER_WORKERS", as_int, "twenty"),
        ("SENDER_WORKERS", as_int, "2.5"),
        ("SEND_DISTRIBUTION", as_distribution, "gaussian"),
    ],
)
def test_non_numeric_environment_value_names_the_variable(name: str, parse: Any, raw: str) -> None:
    """An unparseable environment value raises ConfigError naming the variable and its value."""
    with pytest.raises(ConfigError, match=re.escape(f"{name}={raw!r}")):
        Sources({name: raw}).pick(None, (name,), parse, None)


def test_bad_distribution_lists_the_choices() -> None:
    """An unknown distribution name lists the valid ones."""
    with pytest.raises(ConfigError, match="one of exponential, normal, uniform, constant"):
        Sources({"SEND_DISTRIBUTION": "gaussian"}).pick(None, ("SEND_DISTRIBUTION",), as_distribution, None)


def test_distribution_name_is_case_insensitive() -> None:
    """SEND_DISTRIBUTION accepts any case."""
    assert as_distribution("Uniform") is Distribution.UNIFORM


def test_invalid_environment_url_fails_on_resolve() -> None:
    """A malformed AMQP_URL in the environment raises ConfigError when settings are resolved."""
    with pytest.raises(ConfigError, match="malformed AMQP URL"):
        Common.resolve(Sources({"AMQP_URL": "amqp://"}))


# Redaction and derived values.


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("amqp://guest:guest@localhost:5672/", "amqp://guest:***@localhost:5672/"),
        ("amqps://user:p%40ss@broker.example:5671/vhost", "amqps://user:***@broker.example:5671/vhost"),
        ("amqp://user:p@ss@host/", "amqp://user:***@host/"),
        ("redis://:secret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://user:secret@cache:6379/0?ssl=1", "redis://user:***@cache:6379/0?ssl=1"),
    ],
)
def test_redact_hides_the_password(url: str, redacted: str) -> None:
    """redact replaces the password with *** and keeps the rest of the URL."""
    assert redact(url) == redacted


@pytest.mark.parametrize(
    "url",
    ["redis://localhost:6379/0", "amqp://user@host/", "amqp://host/", "not a url"],
)
def test_redact_leaves_passwordless_urls_alone(url: str) -> None:
    """A URL without a password is returned unchanged."""
    assert redact(url) == url


@pytest.mark.parametrize(("workers", "prefetch"), [(1, 2), (20, 40), (40_000, 65535)])
def test_effective_prefetch_defaults_to_twice_the_workers(workers: int, prefetch: int) -> None:
    """Without a prefetch setting, the prefetch is twice the worker count, capped at 65535."""
    assert SenderSettings(common=Common(), workers=workers).effective_prefetch == prefetch


def test_explicit_prefetch_wins() -> None:
    """An explicit prefetch is used as is."""
    assert SenderSettings(common=Common(), workers=20, prefetch=7).effective_prefetch == 7


# TLS files, queue type and Redis Cluster URLs.


def _pem(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def test_tls_files_come_from_flags_over_environment(tmp_path: Path) -> None:
    """AMQP_CA/CERT/KEY and REDIS_CA/CERT/KEY fill the TLS files a flag does not give."""
    ca, cert, key, flag_ca = (_pem(tmp_path, n) for n in ("ca", "cert", "key", "flag-ca"))
    env = {"AMQP_URL": "amqps://h/", "REDIS_URL": "rediss://h/0", "AMQP_CA": str(ca), "REDIS_CA": str(ca)}
    env |= {"AMQP_CERT": str(cert), "AMQP_KEY": str(key)}
    common = Common.resolve(Sources(env), redis_tls=TlsFiles(ca=flag_ca))
    assert common.amqp_tls == TlsFiles(ca=ca, cert=cert, key=key)
    assert common.redis_tls == TlsFiles(ca=flag_ca)


@pytest.mark.parametrize(
    ("url", "files", "message"),
    [
        ("amqps://h/", {"ca": "missing"}, "--amqp-ca {tmp}/missing: no such file"),
        ("amqps://h/", {"cert": "cert"}, "--amqp-cert and --amqp-key go together"),
        ("amqps://h/", {"key": "key"}, "--amqp-cert and --amqp-key go together"),
        ("amqp://h/", {"ca": "ca"}, "--amqp-ca/-cert/-key need a TLS URL (amqps://), not amqp://"),
    ],
)
def test_invalid_amqp_tls_files_raise(url: str, files: dict[str, str], message: str, tmp_path: Path) -> None:
    """Missing files, a certificate without its key, or TLS files for a plain URL raise ConfigError."""
    for name in ("ca", "cert", "key"):
        _pem(tmp_path, name)
    tls = TlsFiles(**{k: tmp_path / v for k, v in files.items()})
    with pytest.raises(ConfigError, match=re.escape(message.format(tmp=tmp_path))):
        Common(amqp_url=url, amqp_tls=tls)


def test_redis_tls_files_need_a_rediss_url(tmp_path: Path) -> None:
    """Redis TLS files with redis:// are refused; with rediss:// and rediss+cluster:// they are accepted."""
    tls = TlsFiles(ca=_pem(tmp_path, "ca"))
    with pytest.raises(ConfigError, match=re.escape("--redis-ca/-cert/-key need a TLS URL")):
        Common(redis_url="redis://h/0", redis_tls=tls)
    assert Common(redis_url="rediss://h/0", redis_tls=tls).redis_tls == tls
    assert Common(redis_url="rediss+cluster://h:7000", redis_tls=tls).redis_cluster


def test_cluster_url_is_recognised_and_keeps_database_0() -> None:
    """redis+cluster:// selects the cluster client; a database other than 0 is refused."""
    assert Common(redis_url="redis+cluster://node:7000").redis_cluster
    assert not Common(redis_url="redis://node:6379/0").redis_cluster
    with pytest.raises(ConfigError, match="a Redis Cluster has only database 0"):
        Common(redis_url="redis+cluster://:pw@node:7000/2")


def test_queue_type_defaults_to_classic_and_is_validated() -> None:
    """QUEUE_TYPE picks classic or quorum (any case); anything else raises ConfigError naming the choices."""
    assert Common.resolve(Sources({})).queue_type == "classic"
    assert Common.resolve(Sources({"QUEUE_TYPE": "Quorum"})).queue_type == "quorum"
    with pytest.raises(ConfigError, match="invalid queue type 'stream': one of classic, quorum"):
        Common.resolve(Sources({}), queue_type="stream")


def test_redact_hides_a_password_query_parameter() -> None:
    """A password given as a query parameter is redacted too."""
    assert redact("redis://h:6379/0?password=pw&db=1") == "redis://h:6379/0?password=***&db=1"


# The monitor's token.


TOKEN = "s3cret-token"


def test_token_stays_out_of_reprs() -> None:
    """MonitorSettings keeps its token out of its repr, so it cannot reach a log line that way."""
    settings = MonitorSettings(common=Common(), token=TOKEN)

    assert TOKEN not in repr(settings)
    assert settings.token == TOKEN


def test_empty_token_is_refused() -> None:
    """A blank token is a usage error, not a monitor that no header can open."""
    with pytest.raises(ConfigError, match="token must not be empty"):
        MonitorSettings(common=Common(), token=" ")
