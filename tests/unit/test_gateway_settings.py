"""Unit tests for the gateway settings: the body template, headers, URL redaction and validation."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from smstrio.core.errors import ConfigError
from smstrio.core.gateway import (
    DEFAULT_TEMPLATE,
    BodyTemplate,
    GatewaySettings,
    MockGatewaySettings,
    headers_from_json,
    parse_header,
    redact_url,
)

SECRET = "Bearer s3cr3t-t0ken"


def test_default_template_renders_the_message_fields_as_json() -> None:
    """The default template gives {"to", "text", "id"}, each value JSON-escaped (quotes, backslashes, non-ASCII)."""
    body = BodyTemplate.parse(DEFAULT_TEMPLATE).render({"to": "+3312345678", "text": 'a "b" \\ é', "id": "r-1"})
    assert json.loads(body) == {"to": "+3312345678", "text": 'a "b" \\ é', "id": "r-1"}


def test_template_fills_nested_values_and_keeps_literal_braces_and_other_types() -> None:
    """Fields fill strings at any depth; {{ }} are literal braces; numbers, booleans and keys stay as written."""
    template = BodyTemplate.parse('{"msg": {"dest": ["{to}"], "body": "{{{text}}}"}, "n": 1, "ok": true, "{to}": 0}')
    body = template.render({"to": "+1", "text": "hi", "id": "x"})
    assert json.loads(body) == {"msg": {"dest": ["+1"], "body": "{hi}"}, "n": 1, "ok": True, "{to}": 0}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{"to": "{to}"', "gateway template is not JSON"),
        ('{"to": "{phone}"}', "gateway template: {phone} in '{phone}' is not one of {to}, {text}, {id}"),
        ('{"to": "{to"}', "gateway template: expected '}' before end of string"),
        ('{"to": "{to:>5}"}', "gateway template: {to:>5} in"),
        ('{"to": "{to!r}"}', "gateway template: {to!r} in"),
        ('{"to": "{}"}', "gateway template: {} in"),
        ('{"to": "{to.real}"}', "gateway template: {to.real} in"),
    ],
    ids=["not-json", "unknown", "unclosed", "format-spec", "conversion", "positional", "attribute"],
)
def test_malformed_template_raises_config_error(source: str, message: str) -> None:
    """A template that is not JSON, or names anything but {to}, {text}, {id} plainly, is a ConfigError."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        BodyTemplate.parse(source)


def test_parse_header_splits_name_and_value() -> None:
    """'Name: value' gives the name and the value, stripped; a colon inside the value stays."""
    assert parse_header(f"Authorization:  {SECRET} ") == ("Authorization", SECRET)
    assert parse_header("X-Time: 12:30") == ("X-Time", "12:30")


@pytest.mark.parametrize("line", [SECRET, f"Auth orization: {SECRET}", f": {SECRET}"])
def test_malformed_header_is_refused_without_echoing_it(line: str) -> None:
    """A header that is not 'Name: value' is a ConfigError whose message does not contain the line."""
    with pytest.raises(ConfigError) as info:
        parse_header(line)
    assert "s3cr3t" not in str(info.value)


def test_headers_from_json_reads_an_object_of_strings() -> None:
    """GATEWAY_HEADERS is a JSON object of names to values, kept in order."""
    assert headers_from_json(f'{{"Authorization": "{SECRET}", "X-A": "1"}}') == (
        ("Authorization", SECRET),
        ("X-A", "1"),
    )


@pytest.mark.parametrize("raw", [f"Authorization: {SECRET}", f'{{"Authorization": ["{SECRET}"]}}', f'["{SECRET}"]'])
def test_headers_from_json_refuses_other_shapes_without_echoing_them(raw: str) -> None:
    """Anything but a JSON object of strings is a ConfigError naming GATEWAY_HEADERS, not its value."""
    with pytest.raises(ConfigError, match="GATEWAY_HEADERS") as info:
        headers_from_json(raw)
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://api.example.com/sms", "https://api.example.com/sms"),
        ("https://user:pw@api.example.com/sms", "https://user:***@api.example.com/sms"),
        ("http://h:8080/sms?api_key=abc&from=me&flag", "http://h:8080/sms?api_key=***&from=***&flag"),
    ],
)
def test_redact_url_hides_the_password_and_every_query_value(url: str, redacted: str) -> None:
    """redact_url keeps scheme, host, port and path; the password and each query value become ***."""
    assert redact_url(url) == redacted


def _http(**changes: Any) -> GatewaySettings:
    fields: dict[str, Any] = {"kind": "http", "url": "https://api.example.com/sms"}
    fields.update(changes)
    return GatewaySettings(**fields)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "smtp"}, "invalid gateway 'smtp': one of simulated, http"),
        ({"url": None}, "--gateway http needs --gateway-url (or GATEWAY_URL)"),
        ({"kind": "simulated"}, "a gateway URL is used only with --gateway http"),
        ({"url": "ftp://files.example.com/x"}, "gateway URL 'ftp://files.example.com/x' is not an HTTP URL"),
        ({"url": "api.example.com/sms"}, "is not an HTTP URL"),
        ({"url": "http://h:99999/"}, "malformed gateway URL 'http://h:99999/'"),
        ({"method": "GET"}, "invalid gateway method 'GET': one of POST, PUT, PATCH"),
        ({"timeout": 0.0}, "gateway timeout must be > 0 and at most 3600 seconds, got 0.0"),
        ({"timeout": float("nan")}, "gateway timeout must be > 0"),
        ({"headers": (("X-A", "a\r\nX-B: b"),)}, "gateway header X-A: the value has a line break"),
        ({"headers": (("X A", "a"),)}, "invalid gateway header name 'X A'"),
    ],
)
def test_invalid_gateway_settings_raise(changes: dict[str, Any], message: str) -> None:
    """Each invalid gateway setting raises ConfigError saying which and why."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        _http(**changes)


def test_gateway_url_errors_and_repr_hide_secrets() -> None:
    """The URL in an error is redacted; the settings' repr shows neither the URL nor the header values."""
    with pytest.raises(ConfigError) as info:
        _http(url="ftp://u:pw@h/?key=k3y")
    assert "pw" not in str(info.value)
    assert "k3y" not in str(info.value)
    settings = _http(url="https://h/?key=k3y", headers=(("Authorization", SECRET),))
    assert "k3y" not in repr(settings)
    assert "s3cr3t" not in repr(settings)
    assert settings.redacted_url == "https://h/?key=***"


def test_request_headers_add_a_json_content_type_unless_given() -> None:
    """Content-Type: application/json comes first unless the headers name a content type (any case)."""
    auth = ("Authorization", SECRET)
    assert _http(headers=(auth,)).request_headers == (("Content-Type", "application/json"), auth)
    own = (("content-type", "application/vnd.api+json"), auth)
    assert _http(headers=own).request_headers == own


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"port": 70000}, "port must be within 0..65535"),
        ({"mean": -1.0}, "mean must be a number >= 0 seconds"),
        ({"error_rate": 1.5}, "error rate must be within 0..1"),
        ({"throttle_rate": -0.5}, "throttle rate must be within 0..1"),
        ({"error_rate": 0.6, "throttle_rate": 0.6}, "error rate + throttle rate must be at most 1"),
        ({"retry_after": -1}, "retry-after must be within 0..3600 seconds"),
        ({"rate_limit": 0.0}, "rate limit must be > 0 per second"),
        ({"token": " "}, "token must not be empty"),
    ],
)
def test_invalid_mock_gateway_settings_raise(changes: dict[str, Any], message: str) -> None:
    """Each invalid mock-gateway setting raises ConfigError saying which and why."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        MockGatewaySettings(**changes)
