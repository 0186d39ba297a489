"""Deployment tier: compose.yaml checked statically (no container engine runs here): its commands, settings,
health checks, volumes and secrets. The Containerfile, the CI workflow and the local stack have files of their own.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import yaml

from smstrio.cli import app
from smstrio.core.config import Common
from smstrio.core.sources import Sources
from tests.deploy.deploykit import ROOT, known_env_names

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SMSTRIO_SERVICES = {"monitor": "monitor", "sender": "send", "producer": "produce"}
"""compose service -> the smstrio command it runs."""


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``, with ``env`` as the .env file."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise AssertionError(f"compose would refuse to start: {name} unset ({rest})")
        return rest or ""

    return _VARIABLE.sub(one, value).replace("$$", "$")


def service_env(name: str) -> dict[str, str]:
    """A smstrio service's environment as the container sees it, with .env.example as the .env file."""
    example = env_example()
    return {k: interpolate(str(v), example) for k, v in COMPOSE["services"][name]["environment"].items()}


def test_compose_commands_parse_with_the_smstrio_cli() -> None:
    """Each smstrio service's command (and `just produce`'s) is a valid smstrio command line for its role."""
    for service, command in SMSTRIO_SERVICES.items():
        argv = COMPOSE["services"][service]["command"]
        func, _, _ = app.parse_args(argv, exit_on_error=False, print_error=False)
        assert func.__name__ == command, service
    func, bound, _ = app.parse_args(["produce", "1000"], exit_on_error=False, print_error=False)
    assert (func.__name__, bound.arguments) == ("produce", {"count": 1000})


def test_compose_environment_names_are_settings_smstrio_reads() -> None:
    """Every environment variable given to a smstrio container is one the settings read (no typo goes unnoticed)."""
    known = known_env_names()
    assert {"AMQP_URL", "REDIS_URL", "RABBITMQ_HOST", "REDIS_HOST", "QUEUE_NAME", "MONITOR_PORT"} <= known
    for service in SMSTRIO_SERVICES:
        unknown = set(COMPOSE["services"][service]["environment"]) - known
        assert not unknown, f"{service}: {sorted(unknown)} are not smstrio settings"


def test_compose_connection_settings_resolve_to_the_compose_servers() -> None:
    """With .env.example as .env, each smstrio service's settings parse and point at the rabbitmq and redis services."""
    example = env_example()
    for service in SMSTRIO_SERVICES:
        common = Common.resolve(Sources(service_env(service)))
        amqp, redis = urlsplit(common.amqp_url), urlsplit(common.redis_url)
        assert (amqp.hostname, amqp.username, amqp.password) == ("rabbitmq", "smstrio", example["RABBITMQ_PASSWORD"])
        assert (redis.hostname, redis.password) == ("redis", example["REDIS_PASSWORD"])
    monitor = service_env("monitor")
    assert monitor["MONITOR_HOST"] == "0.0.0.0"
    assert COMPOSE["services"]["monitor"]["ports"] == [f"127.0.0.1:8080:{monitor['MONITOR_PORT']}"]


def test_compose_services_have_health_checks_and_wait_for_healthy_servers() -> None:
    """Every long-running service has a health check; smstrio services start once RabbitMQ and Redis are healthy."""
    services = COMPOSE["services"]
    for name, service in services.items():
        if name == "producer":
            continue
        check = service["healthcheck"]
        assert check["test"], name
        assert not check.get("disable"), name
    for name in SMSTRIO_SERVICES:
        assert services[name]["depends_on"] == {
            "rabbitmq": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
    assert services["monitor"]["healthcheck"]["test"] == ["CMD", "python", "/app/healthcheck.py"]


def test_compose_keeps_broker_and_redis_data_in_named_volumes() -> None:
    """RabbitMQ and Redis data live in named volumes; the management UI is published on loopback only."""
    assert set(COMPOSE["volumes"]) == {"rabbitmq-data", "redis-data"}
    services = COMPOSE["services"]
    assert "rabbitmq-data:/var/lib/rabbitmq" in services["rabbitmq"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert services["rabbitmq"]["image"].endswith("-management")
    assert "127.0.0.1:15672:15672" in services["rabbitmq"]["ports"]


def test_redis_runs_through_its_entrypoint_with_the_password_in_a_config_file() -> None:
    """Redis runs `redis-server CONF` through its entrypoint; its password is in that file only, not env or command."""
    redis = COMPOSE["services"]["redis"]
    assert "entrypoint" not in redis
    assert "environment" not in redis
    (mount,) = redis["configs"]
    assert redis["command"] == ["redis-server", mount["target"]]
    assert (mount["source"], mount["uid"], mount["mode"]) == ("redis-conf", "999", 0o400)
    content = interpolate(COMPOSE["configs"]["redis-conf"]["content"], env_example())
    assert content.splitlines() == ["appendonly yes", f"requirepass {env_example()['REDIS_PASSWORD']}"]
    assert "REDIS_PASSWORD" not in json.dumps(redis)
    check = " ".join(redis["healthcheck"]["test"])
    assert mount["target"] in check
    assert "REDISCLI_AUTH" in check


def test_compose_builds_one_image_once() -> None:
    """Only the monitor carries `build:`; every smstrio service runs that one image, so compose builds it once."""
    services = COMPOSE["services"]
    assert [name for name, service in services.items() if "build" in service] == ["monitor"]
    assert services["monitor"]["build"] == {"context": ".", "dockerfile": "containers/Containerfile"}
    assert {services[name]["image"] for name in SMSTRIO_SERVICES} == {"${SMSTRIO_IMAGE:-smstrio:local}"}


def test_sender_scales_and_producer_is_one_shot_behind_a_profile() -> None:
    """The sender has no container name and no host port (so --scale works); the producer runs only when asked."""
    services = COMPOSE["services"]
    assert "container_name" not in services["sender"]
    assert "ports" not in services["sender"]
    assert services["producer"]["profiles"] == ["producer"]
    assert services["producer"]["restart"] == "no"
    assert all("profiles" not in s for n, s in services.items() if n != "producer")


def test_no_secret_is_committed() -> None:
    """.env.example holds placeholders only; compose.yaml takes every credential from .env; .env never ships."""
    example = env_example()
    secrets = {k: v for k, v in example.items() if re.search("PASSWORD|SECRET|TOKEN", k)}
    assert secrets
    assert all(v == "change-me" for v in secrets.values())
    for service in SMSTRIO_SERVICES:
        for key in ("AMQP_URL", "REDIS_URL"):
            raw = COMPOSE["services"][service]["environment"][key]
            assert re.search(r":\$\{\w+_PASSWORD:\?[^}]*\}@", raw), f"{service} {key} has a literal password"
    assert COMPOSE["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"].startswith("${RABBITMQ_PASSWORD")
    assert "requirepass ${REDIS_PASSWORD:?" in COMPOSE["configs"]["redis-conf"]["content"]
    for ignore in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore).read_text().split(), ignore
