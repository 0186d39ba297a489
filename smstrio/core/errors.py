"""The errors smstrio raises, one rooted tree.

    SmstrioError
    ├── ConfigError          a flag, environment variable or .env value is invalid (exit 2)
    ├── DecodeError          a queue message body is not a valid SMS alert
    ├── ServiceError         a server is unreachable or misbehaved (exit 3)
    │   ├── BrokerError      RabbitMQ
    │   ├── StoreError       Redis
    │   └── GatewayError     the SMS gateway: unreachable at start, or a send it refused or left unanswered
    └── PublishError         the broker did not confirm every message (exit 1)

Adapters translate library exceptions into this tree with ``raise X from exc``;
the CLI turns each into one readable line and a named exit code.
"""


class SmstrioError(Exception):
    """Root of every error smstrio raises on purpose."""


class ConfigError(SmstrioError):
    """A setting has an invalid value."""


class DecodeError(SmstrioError):
    """A message body cannot be decoded into a valid SMS alert."""


class ServiceError(SmstrioError):
    """A server smstrio depends on is unreachable or failed a request."""


class BrokerError(ServiceError):
    """RabbitMQ is unreachable, or refused or dropped what we asked."""


class StoreError(ServiceError):
    """Redis is unreachable, or failed a command."""


class GatewayError(ServiceError):
    """The SMS gateway is unreachable, or refused a send or did not answer it in time.

    A sender counts a refused send as failed and retries it (within ``--max-attempts``) no sooner
    than ``retry_after`` seconds, when the gateway asked for a wait; a ``permanent`` refusal (a
    4xx other than 429: the request itself is wrong) is not retried.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class PublishError(SmstrioError):
    """Some messages were not confirmed by the broker."""
