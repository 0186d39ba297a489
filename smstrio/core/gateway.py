"""Settings of the SMS gateways: the HTTP gateway's request (URL, method, body template, headers,
timeout) and the mock SMS API's behaviour. Pure: parsing and validation only.

Header values are secrets (an ``Authorization`` value, an API key): no record here prints them,
and :func:`redact_url` hides what a provider URL may carry (a password, any query value).
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError

GATEWAY_KINDS = ("simulated", "http")
METHODS = ("POST", "PUT", "PATCH")
"""Methods that carry a body, which the template fills."""
TEMPLATE_FIELDS = ("to", "text", "id")
DEFAULT_TEMPLATE = '{"to": "{to}", "text": "{text}", "id": "{id}"}'
MAX_TIMEOUT_S = 3600.0
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP header name (RFC 9110 token)."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def redact_url(url: str) -> str:
    """The URL with its password and every query value as ``***``: a provider's key may sit in any parameter."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(f"{k}=***" if eq else k for k, eq, _ in (p.partition("=") for p in parts.query.split("&") if p))
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@dataclass(frozen=True, slots=True)
class BodyTemplate:
    """A JSON request body whose string values name message fields: ``{to}``, ``{text}``, ``{id}``
    (``{{`` and ``}}`` for literal braces). Object keys are kept as written."""

    source: str
    tree: Any = field(repr=False, compare=False)

    @classmethod
    def parse(cls, source: str) -> BodyTemplate:
        """Raise :class:`ConfigError` unless ``source`` is JSON naming only known fields."""
        try:
            tree = json.loads(source)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"gateway template is not JSON: {exc}") from exc
        _check_fields(tree)
        return cls(source, tree)

    def render(self, fields: Mapping[str, str]) -> bytes:
        """The body for one message: each field's value in place of its name, JSON-escaped."""
        return json.dumps(_fill(self.tree, fields), ensure_ascii=False, separators=(",", ":")).encode()


def _check_fields(node: Any) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _check_fields(value)
    elif isinstance(node, list):
        for value in node:
            _check_fields(value)
    elif isinstance(node, str):
        try:
            parsed = list(string.Formatter().parse(node))
        except ValueError as exc:
            raise ConfigError(f"gateway template: {exc} in {node!r} (write {{{{ and }}}} for literal braces)") from exc
        for _, name, spec, conversion in parsed:
            written = "{" + (name or "") + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            _check(
                name is None or (name in TEMPLATE_FIELDS and not spec and not conversion),
                f"gateway template: {written} in {node!r} is not one of "
                + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS),
            )


def _fill(node: Any, fields: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return node.format_map(fields)
    if isinstance(node, dict):
        return {key: _fill(value, fields) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(value, fields) for value in node]
    return node


def parse_header(line: str) -> tuple[str, str]:
    """``Name: value`` as ``(name, value)``; raise :class:`ConfigError` if malformed, without echoing
    the line (it may hold a secret)."""
    name, sep, value = line.partition(":")
    _check(bool(sep) and bool(_TOKEN.fullmatch(name.strip())), "a gateway header is not 'Name: value' (not shown)")
    return name.strip(), value.strip()


def headers_from_json(raw: str) -> tuple[tuple[str, str], ...]:
    """``GATEWAY_HEADERS``: a JSON object of header names to string values; raise :class:`ConfigError`
    if it is not one, without echoing it."""
    try:
        given = json.loads(raw)
    except json.JSONDecodeError:
        given = None
    if isinstance(given, dict) and all(isinstance(v, str) for v in given.values()):
        return tuple((str(name), value) for name, value in given.items())
    raise ConfigError(
        'GATEWAY_HEADERS is not a JSON object of strings such as {"Authorization": "Bearer ..."} (not shown)'
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewaySettings:
    """Where ``smstrio send`` sends: the simulated gateway, or one HTTP request per message to ``url``.

    ``url`` and ``headers`` stay out of reprs; log :attr:`redacted_url` and the header names.
    """

    kind: str = "simulated"
    url: str | None = field(default=None, repr=False)
    method: str = "POST"
    template: BodyTemplate = field(default_factory=lambda: BodyTemplate.parse(DEFAULT_TEMPLATE))
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """Sent with every request; a ``Content-Type: application/json`` is added unless given."""
    timeout: float = 10.0
    """Seconds a request may take in all (connect, send, answer); longer counts as a failed send."""

    def __post_init__(self) -> None:
        _check(self.kind in GATEWAY_KINDS, f"invalid gateway {self.kind!r}: one of {', '.join(GATEWAY_KINDS)}")
        _check(
            self.kind == "http" or self.url is None,
            "a gateway URL is used only with --gateway http (GATEWAY=http): set it, or drop the URL",
        )
        _check(self.kind != "http" or self.url is not None, "--gateway http needs --gateway-url (or GATEWAY_URL)")
        if self.url is not None:
            try:
                parts = urlsplit(self.url)
                parts.port  # noqa: B018 - raises ValueError on a malformed port
            except ValueError as exc:
                raise ConfigError(f"malformed gateway URL {redact_url(self.url)!r}: {exc}") from exc
            _check(
                parts.scheme in ("http", "https") and bool(parts.hostname),
                f"gateway URL {redact_url(self.url)!r} is not an HTTP URL: expected http://HOST or https://HOST",
            )
        _check(self.method in METHODS, f"invalid gateway method {self.method!r}: one of {', '.join(METHODS)}")
        for name, value in self.headers:
            _check(bool(_TOKEN.fullmatch(name)), f"invalid gateway header name {name[:40]!r}")
            _check("\r" not in value and "\n" not in value, f"gateway header {name}: the value has a line break")
        _check(
            math.isfinite(self.timeout) and 0 < self.timeout <= MAX_TIMEOUT_S,
            f"gateway timeout must be > 0 and at most {MAX_TIMEOUT_S:g} seconds, got {self.timeout}",
        )

    @property
    def redacted_url(self) -> str | None:
        return None if self.url is None else redact_url(self.url)

    @property
    def request_headers(self) -> tuple[tuple[str, str], ...]:
        """:attr:`headers`, with ``Content-Type: application/json`` unless they name a content type."""
        if any(name.lower() == "content-type" for name, _ in self.headers):
            return self.headers
        return (("Content-Type", "application/json"), *self.headers)


@dataclass(frozen=True, slots=True, kw_only=True)
class MockGatewaySettings:
    """``smstrio mock-gateway``: an SMS API to test against, with drawn latency, errors and its own limit."""

    host: str = "127.0.0.1"
    port: int = 8099
    mean: float = 0.0
    """Mean seconds before each answer."""
    distribution: Distribution = Distribution.EXPONENTIAL
    error_rate: float = 0.0
    """Probability of a 500 answer."""
    throttle_rate: float = 0.0
    """Probability of a 429 answer with ``Retry-After: retry_after``."""
    retry_after: int = 1
    """Whole seconds, as ``Retry-After`` carries them."""
    rate_limit: float | None = None
    """Requests per second accepted (a bucket of one second's worth); beyond it, 429 with the wait."""
    token: str | None = field(default=None, repr=False)
    """When set, requests without ``Authorization: Bearer <token>`` get 401."""
    seed: int | None = None

    def __post_init__(self) -> None:
        _check(0 <= self.port <= 65535, f"port must be within 0..65535, got {self.port}")
        _check(math.isfinite(self.mean) and self.mean >= 0, f"mean must be a number >= 0 seconds, got {self.mean}")
        for name, rate in (("error rate", self.error_rate), ("throttle rate", self.throttle_rate)):
            _check(math.isfinite(rate) and 0 <= rate <= 1, f"{name} must be within 0..1, got {rate}")
        _check(self.error_rate + self.throttle_rate <= 1, "error rate + throttle rate must be at most 1")
        _check(0 <= self.retry_after <= 3600, f"retry-after must be within 0..3600 seconds, got {self.retry_after}")
        _check(
            self.rate_limit is None or (math.isfinite(self.rate_limit) and self.rate_limit > 0),
            f"rate limit must be > 0 per second, got {self.rate_limit}",
        )
        _check(self.token is None or self.token.strip() != "", "token must not be empty")
