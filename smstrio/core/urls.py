"""Service URLs and the TLS files beside them: lists of nodes, passwords redacted, checks. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from smstrio.core.errors import ConfigError

_NODE_SEPARATOR = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
"""A comma that starts the next URL of a list (``amqp://a/,amqp://b/``); a comma inside a URL stays."""


def split_urls(text: str) -> tuple[str, ...]:
    """The URLs of a comma-separated list (one URL alone is a list of one), each stripped."""
    return tuple(url.strip() for url in _NODE_SEPARATOR.split(text.strip()))


def redact(url: str) -> str:
    """The URL with any password (``user:PASSWORD@`` or a ``password=`` query parameter) as ``***``;
    a comma-separated list of URLs (``AMQP_URL`` naming several nodes) with each one's."""
    urls = split_urls(url)
    if len(urls) > 1:
        return ",".join(_redact_one(u) for u in urls)
    return _redact_one(url)


def _redact_one(url: str) -> str:
    parts = original = urlsplit(url)
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{netloc}")
    if parts.query:
        pairs = (p.partition("=") for p in parts.query.split("&"))
        parts = parts._replace(
            query="&".join(f"{k}={'***' if k.lower() == 'password' else v}" if eq else k for k, eq, v in pairs)
        )
    return url if parts == original else urlunsplit(parts)


def check_url(url: str, schemes: tuple[str, ...], what: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigError(f"malformed {what} URL {redact(url)!r}: {exc}") from exc
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(
            f"malformed {what} URL {redact(url)!r}: expected {' or '.join(s + '://HOST' for s in schemes)}"
        )
    return url


def check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsFiles:
    """PEM files for one TLS connection: a CA bundle to verify the server (else the system's),
    and a client certificate with its key for servers that ask for one."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @property
    def given(self) -> bool:
        return any(f is not None for f in (self.ca, self.cert, self.key))

    def check(self, flag: str, url: str, tls_schemes: tuple[str, ...]) -> None:
        """Each file exists, certificate and key come together, and only for a TLS URL (else they would be unused)."""
        for name, path in (("ca", self.ca), ("cert", self.cert), ("key", self.key)):
            check(path is None or path.is_file(), f"{flag}-{name} {path}: no such file")
        check(
            (self.cert is None) == (self.key is None), f"{flag}-cert and {flag}-key go together: give both or neither"
        )
        scheme = urlsplit(url).scheme
        check(
            not self.given or scheme in tls_schemes,
            f"{flag}-ca/-cert/-key need a TLS URL ({' or '.join(s + '://' for s in tls_schemes)}), "
            f"not {scheme}://: over plain TCP they would be ignored",
        )
