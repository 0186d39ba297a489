"""Unit tests for broker node lists and the AMQP heartbeat setting: parsing, validation, redaction."""

from __future__ import annotations

import pytest

from smstrio.adapters.amqp.connection import with_heartbeat
from smstrio.core.config import DEFAULT_AMQP_HEARTBEAT, Common
from smstrio.core.errors import ConfigError
from smstrio.core.sources import Sources
from smstrio.core.urls import redact, split_urls

LIST = "amqp://u:pw1@n1:5672/, amqp://u:pw2@n2:5673/,amqp://u:pw3@n3/"


def test_one_url_is_a_list_of_one() -> None:
    """A single URL is one node, unchanged."""
    assert Common(amqp_url="amqp://guest:guest@localhost:5672/").amqp_urls == ("amqp://guest:guest@localhost:5672/",)


def test_comma_separated_urls_are_nodes() -> None:
    """A comma-separated list gives each node, stripped, in order."""
    assert Common(amqp_url=LIST).amqp_urls == ("amqp://u:pw1@n1:5672/", "amqp://u:pw2@n2:5673/", "amqp://u:pw3@n3/")


def test_a_comma_inside_a_url_does_not_split_it() -> None:
    """Only a comma followed by a scheme starts a new URL (a comma in a password stays)."""
    assert split_urls("amqp://u:p,w@h/") == ("amqp://u:p,w@h/",)


def test_redact_hides_every_node_password() -> None:
    """redact of a list masks the password of each node, not only the first."""
    assert redact(LIST) == "amqp://u:***@n1:5672/,amqp://u:***@n2:5673/,amqp://u:***@n3/"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("amqp://u:pw1@n1/,http://u:pw2@n2/", "malformed AMQP URL 'http://u:***@n2/'"),
        ("amqp://u:pw1@n1/,n2:5672", "each node of a list is a whole URL"),
        ("amqp://u:pw1@n1/,", "each node of a list is a whole URL"),
    ],
)
def test_a_bad_node_is_named_without_its_password(url: str, message: str) -> None:
    """A malformed node of a list is a usage error naming that node, its password redacted."""
    with pytest.raises(ConfigError) as caught:
        Common(amqp_url=url)
    assert message in str(caught.value)
    assert "pw1" not in str(caught.value)
    assert "pw2" not in str(caught.value)


def test_heartbeat_defaults_to_10_and_comes_from_the_environment() -> None:
    """AMQP_HEARTBEAT sets the heartbeat; without it, 10 s."""
    assert Common.resolve(Sources({})).amqp_heartbeat == DEFAULT_AMQP_HEARTBEAT == 10
    assert Common.resolve(Sources({"AMQP_HEARTBEAT": "4"})).amqp_heartbeat == 4
    assert Common.resolve(Sources({"AMQP_HEARTBEAT": "4"}), amqp_heartbeat=0).amqp_heartbeat == 0


@pytest.mark.parametrize(("raw", "message"), [("abc", "AMQP_HEARTBEAT='abc'"), ("-1", "AMQP heartbeat must be within")])
def test_bad_heartbeat_is_a_usage_error(raw: str, message: str) -> None:
    """A heartbeat that is not a whole number of seconds within 0..3600 is refused."""
    with pytest.raises(ConfigError, match=message):
        Common.resolve(Sources({"AMQP_HEARTBEAT": raw}))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://h/", "amqp://h/?heartbeat=10"),
        ("amqp://h/vhost?name=x", "amqp://h/vhost?name=x&heartbeat=10"),
        ("amqp://h/?heartbeat=60", "amqp://h/?heartbeat=60"),
        ("amqp://h/?name=x&heartbeat=0", "amqp://h/?name=x&heartbeat=0"),
    ],
)
def test_the_urls_own_heartbeat_wins(url: str, expected: str) -> None:
    """with_heartbeat adds heartbeat=N to a URL unless it names its own."""
    assert with_heartbeat(url, 10) == expected
