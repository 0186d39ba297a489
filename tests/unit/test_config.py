"""Unit tests for settings: sources and their precedence, the .env reader, validation, redaction."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from smstrio.core.config import (
    DEFAULT_AMQP_URL,
    DEFAULT_QUEUE,
    DEFAULT_REDIS_URL,
    Common,
    MonitorSettings,
    ProducerSettings,
    SenderSettings,
    TlsFiles,
    redact,
)
from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError
from smstrio.core.sources import Sources, as_distribution, as_float, as_int, read_dotenv


def write_env(tmp_path: Path, text: str) -> Path:
    """A ``.env`` file in ``tmp_path`` holding ``text``."""
    path = tmp_path / ".env"
    path.write_text(text)
    return path


# Precedence: flag > environment > .env file > default.


def test_flag_beats_environment_and_dotenv(tmp_path: Path) -> None:
    """A command-line flag wins over the environment and the .env file."""
    src = Sources.load({"QUEUE_NAME": "from-env"}, write_env(tmp_path, "QUEUE_NAME=from-file\n"))
    assert Common.resolve(src, queue="from-flag").queue == "from-flag"


def test_environment_beats_dotenv(tmp_path: Path) -> None:
    """An environment variable wins over the .env file."""
    src = Sources.load({"QUEUE_NAME": "from-env"}, write_env(tmp_path, "QUEUE_NAME=from-file\n"))
    assert Common.resolve(src).queue == "from-env"


def test_dotenv_beats_default(tmp_path: Path) -> None:
    """A .env value wins over the default."""
    src = Sources.load({}, write_env(tmp_path, "QUEUE_NAME=from-file\n"))
    assert Common.resolve(src).queue == "from-file"


def test_default_when_nothing_is_set(tmp_path: Path) -> None:
    """With no flag, environment or .env file, every setting takes its default."""
    common = Common.resolve(Sources.load({}, tmp_path / "missing.env"))
    assert common == Common()
    assert (common.amqp_url, common.redis_url, common.queue, common.log_level, common.log_file) == (
        DEFAULT_AMQP_URL,
        DEFAULT_REDIS_URL,
        DEFAULT_QUEUE,
        "INFO",
        None,
    )


def test_pick_precedence_for_numbers() -> None:
    """pick returns the flag, else the parsed environment value, else the default."""
    src = Sources({"SENDER_WORKERS": "8"})
    assert src.pick(3, ("SENDER_WORKERS",), as_int, 20) == 3
    assert src.pick(None, ("SENDER_WORKERS",), as_int, 20) == 8
    assert Sources({}).pick(None, ("SENDER_WORKERS",), as_int, 20) == 20


def test_pick_uses_the_first_name_set() -> None:
    """pick tries the names in order and takes the first one set."""
    src = Sources({"B": "2", "C": "3"})
    assert src.pick(None, ("A", "B", "C"), as_int, 0) == 2


def test_pick_treats_blank_values_as_unset() -> None:
    """A blank environment value falls through to the default."""
    assert Sources({"MEAN_PROCESSING_TIME": "  "}).pick(None, ("MEAN_PROCESSING_TIME",), as_float, 2.0) == 2.0


def test_pick_strips_whitespace_before_parsing() -> None:
    """Surrounding whitespace in an environment value is ignored."""
    assert Sources({"FAILURE_RATE": " 0.25 "}).pick(None, ("FAILURE_RATE",), as_float, 0.1) == 0.25


def test_log_level_is_uppercased_and_log_file_is_a_path() -> None:
    """LOG_LEVEL is case-insensitive and LOG_FILE becomes a Path."""
    common = Common.resolve(Sources({"LOG_LEVEL": "debug", "LOG_FILE": "logs/sender.log"}))
    assert common.log_level == "DEBUG"
    assert common.log_file == Path("logs/sender.log")


# Seed names for hosts, and the URLs that override them.


def test_host_seed_names_build_urls() -> None:
    """RABBITMQ_HOST and REDIS_HOST build the default URLs for those hosts."""
    common = Common.resolve(Sources({"RABBITMQ_HOST": "rabbit", "REDIS_HOST": "cache"}))
    assert common.amqp_url == "amqp://guest:guest@rabbit:5672/"
    assert common.redis_url == "redis://cache:6379/0"


def test_urls_override_host_seed_names() -> None:
    """AMQP_URL and REDIS_URL win over RABBITMQ_HOST and REDIS_HOST."""
    src = Sources(
        {
            "RABBITMQ_HOST": "rabbit",
            "REDIS_HOST": "cache",
            "AMQP_URL": "amqp://u:p@broker:5673/vh",
            "REDIS_URL": "redis://store:6380/2",
        }
    )
    common = Common.resolve(src)
    assert common.amqp_url == "amqp://u:p@broker:5673/vh"
    assert common.redis_url == "redis://store:6380/2"


def test_url_flags_override_everything() -> None:
    """URL flags win over both the URL variables and the host seed names."""
    src = Sources({"RABBITMQ_HOST": "rabbit", "AMQP_URL": "amqp://broker/", "REDIS_HOST": "cache"})
    common = Common.resolve(src, amqp_url="amqps://flag:5671/", redis_url="rediss://flag:6380/0")
    assert common.amqp_url == "amqps://flag:5671/"
    assert common.redis_url == "rediss://flag:6380/0"


def test_host_seed_names_can_come_from_dotenv(tmp_path: Path) -> None:
    """RABBITMQ_HOST in the .env file seeds the AMQP URL too."""
    src = Sources.load({}, write_env(tmp_path, "RABBITMQ_HOST=rabbit\n"))
    assert Common.resolve(src).amqp_url == "amqp://guest:guest@rabbit:5672/"


# The .env reader.


def test_read_dotenv_handles_comments_export_and_quotes(tmp_path: Path) -> None:
    """Comments and blank lines are skipped; export, quotes and surrounding spaces are removed."""
    path = write_env(
        tmp_path,
        "# a comment\n"
        "\n"
        "   # an indented comment\n"
        "PLAIN=value\n"
        "export EXPORTED=1\n"
        'DOUBLE="two words"\n'
        "SINGLE='it is'\n"
        "  SPACED  =  padded  \n"
        "URL=amqp://u:p@h/?a=b\n"
        "EMPTY=\n"
        'MISMATCHED="left\n',
    )
    assert read_dotenv(path) == {
        "PLAIN": "value",
        "EXPORTED": "1",
        "DOUBLE": "two words",
        "SINGLE": "it is",
        "SPACED": "padded",
        "URL": "amqp://u:p@h/?a=b",
        "EMPTY": "",
        "MISMATCHED": '"left',
    }


def test_read_dotenv_missing_file_is_empty(tmp_path: Path) -> None:
    """A missing .env file reads as no values."""
    assert read_dotenv(tmp_path / "nope.env") == {}


@pytest.mark.parametrize("line", ["JUST_A_WORD", "1BAD=x", "BAD KEY=x", "=value"])
def test_read_dotenv_bad_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    """A line that is not KEY=VALUE raises ConfigError naming the file and line number."""
    path = write_env(tmp_path, f"# header\nGOOD=1\n{line}\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:3:")):
        read_dotenv(path)


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
    ],
)
def test_invalid_common_settings_raise(changes: dict[str, Any], message: str) -> None:
    """A malformed URL, queue name or log level raises ConfigError with a clear message."""
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
