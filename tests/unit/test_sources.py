"""Unit tests for where settings come from: flag, environment, .env file and default in that order; the .env reader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smstrio.core.config import DEFAULT_AMQP_URL, DEFAULT_QUEUE, DEFAULT_REDIS_URL, Common
from smstrio.core.errors import ConfigError
from smstrio.core.sources import Sources, as_float, as_int, read_dotenv


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


def test_log_format_comes_from_the_flag_else_log_format_else_auto() -> None:
    """--log-format wins over LOG_FORMAT (case-insensitive), which wins over the default auto."""
    assert Common.resolve(Sources({})).log_format == "auto"
    assert Common.resolve(Sources({"LOG_FORMAT": "JSON"})).log_format == "json"
    assert Common.resolve(Sources({"LOG_FORMAT": "json"}), log_format="console").log_format == "console"


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
