"""Client TLS contexts for the adapters, built from the PEM files the settings name."""

from __future__ import annotations

import ssl

from smstrio.core.errors import ConfigError
from smstrio.core.urls import TlsFiles


def client_context(files: TlsFiles, what: str) -> ssl.SSLContext:
    """A context that verifies the server against ``files.ca`` (else the system's CAs) and its host name,
    presenting ``files.cert`` and ``files.key`` when given; a file that does not load is a :class:`ConfigError`."""
    try:
        context = ssl.create_default_context(cafile=files.ca)
        if files.cert is not None:
            context.load_cert_chain(files.cert, files.key)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError(f"cannot load the TLS files for {what}: {exc}") from exc
    return context
