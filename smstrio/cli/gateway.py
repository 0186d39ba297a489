"""Where ``smstrio send`` sends: its gateway flags and the gateway they make; and ``smstrio mock-gateway``,
an SMS API to send against."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated

from cyclopts import Parameter

from smstrio.cli._app import DEFAULT_LOG_FLAGS, LogFlags, app, run_command, sources, stop_by_trigger, until_signalled
from smstrio.core.config import SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.core.gateway import (
    DEFAULT_TEMPLATE,
    BodyTemplate,
    GatewaySettings,
    MockGatewaySettings,
    headers_from_json,
    parse_header,
)
from smstrio.core.sources import Sources, as_float
from smstrio.ports import Gateway
from smstrio.roles.gateway import SimulatedGateway
from smstrio.web.mockgateway import MockGateway, serve_mock_gateway


@Parameter(name="*")
@dataclass
class GatewayFlags:
    """``smstrio send``'s gateway flags. Each falls back to its environment variable, then ``.env``."""

    gateway: str | None = None
    "simulated, or http: one request per message to --gateway-url [env GATEWAY; default simulated]."
    gateway_url: str | None = None
    "The SMS API's http:// or https:// URL; logged with any password and query values as *** [env GATEWAY_URL]."
    gateway_method: str | None = None
    "POST, PUT or PATCH [env GATEWAY_METHOD; default POST]."
    gateway_template: str | None = None
    (
        "The JSON request body; {to}, {text} and {id} in its strings become the message's "
        '[env GATEWAY_TEMPLATE; default {"to": "{to}", "text": "{text}", "id": "{id}"}].'
    )
    gateway_header: Annotated[list[str] | None, Parameter(negative="")] = None
    (
        '"Name: value" sent with each request, repeatable; values are never printed. Secrets are safer in the '
        'environment than in flags, which ps shows [env GATEWAY_HEADERS, a JSON object: {"Authorization": "..."}].'
    )
    gateway_timeout: float | None = None
    "Seconds a request may take in all; longer is a failed send [env GATEWAY_TIMEOUT; default 10]."

    def resolve(self, src: Sources) -> GatewaySettings:
        if self.gateway_header:
            headers = tuple(parse_header(line) for line in self.gateway_header)
        else:
            raw = src.env.get("GATEWAY_HEADERS")
            headers = headers_from_json(raw) if raw is not None else ()
        template = src.pick(self.gateway_template, ("GATEWAY_TEMPLATE",), str, DEFAULT_TEMPLATE)
        return GatewaySettings(
            kind=src.pick(self.gateway, ("GATEWAY",), str, "simulated").lower(),
            url=src.pick(self.gateway_url, ("GATEWAY_URL",), str, None),
            method=src.pick(self.gateway_method, ("GATEWAY_METHOD",), str, "POST").upper(),
            template=BodyTemplate.parse(template),
            headers=headers,
            timeout=src.pick(self.gateway_timeout, ("GATEWAY_TIMEOUT",), as_float, 10.0),
        )


DEFAULT_GATEWAY_FLAGS = GatewayFlags()


def make_gateway(settings: SenderSettings, seed: int | None) -> Gateway:
    """The gateway ``settings`` name: HTTP with a connection per worker, or simulated, drawing from ``seed``."""
    if settings.gateway.kind == "http":
        # Imported here, as every adapter is: only the commands that send through it pay for loading it.
        from smstrio.adapters.http.gateway import HttpGateway

        return HttpGateway(settings.gateway, slots=settings.workers)
    rng = random.Random(seed)
    return SimulatedGateway(sampler(settings.distribution, settings.mean, rng), settings.failure_rate, rng)


@app.command
def mock_gateway(
    *,
    host: str = "127.0.0.1",
    port: int = 8099,
    mean: float = 0.0,
    distribution: Distribution = Distribution.EXPONENTIAL,
    error_rate: float = 0.0,
    throttle_rate: float = 0.0,
    retry_after: int = 1,
    rate_limit: float | None = None,
    token: str | None = None,
    seed: int | None = None,
    log_flags: LogFlags = DEFAULT_LOG_FLAGS,
) -> None:
    """Serve a mock SMS API to send against: smstrio send --gateway http --gateway-url http://HOST:PORT/sms.

    Each SMS (any method but GET, any path; a JSON body with a string "id") is answered after a drawn
    latency: 200, or 500 and 429 (with Retry-After) at the given rates, or at once 429 over the rate
    limit. GET /received gives the counts: per status, and per message id received and accepted.

    Parameters
    ----------
    host
        Address to bind.
    port
        TCP port, 0 for any free one.
    mean
        Mean seconds before each answer.
    distribution
        How the latencies are drawn around the mean.
    error_rate
        Probability of a 500 answer, 0 to 1.
    throttle_rate
        Probability of a 429 answer with Retry-After, 0 to 1.
    retry_after
        Whole seconds the drawn 429 answers ask to wait.
    rate_limit
        Requests per second accepted; beyond, 429 with the seconds until the next is [default: none].
    token
        Answer 401 to requests without "Authorization: Bearer TOKEN".
    seed
        Seed the random generator (latencies and answers).
    """
    src = sources()
    common = log_flags.resolve(src)
    settings = MockGatewaySettings(
        host=host,
        port=port,
        mean=mean,
        distribution=distribution,
        error_rate=error_rate,
        throttle_rate=throttle_rate,
        retry_after=retry_after,
        rate_limit=rate_limit,
        token=token,
        seed=seed,
    )

    async def main() -> int:
        return await until_signalled(stop_by_trigger, serve_mock_gateway, MockGateway(settings))

    run_command("mock-gateway", common, main)
