"""Deployment tier: the Containerfile, its build context and the image's health check, checked statically."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest

from tests.deploy.deploykit import ROOT, _load
from tests.deploy.test_deploy import COMPOSE


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of containers/Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "containers" / "Containerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(ins.upper(), rest.strip()) for ins, _, rest in (ln.partition(" ") for ln in lines if ln and ln[0] != "#")]


def final_stage() -> list[tuple[str, str]]:
    instructions = containerfile()
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    return instructions[last_from:]


def test_containerfile_builds_in_stages_from_the_lock_as_non_root() -> None:
    """Multi-stage, `uv sync --frozen --no-dev`, a slim non-root final stage README names, smstrio the entrypoint."""
    instructions = containerfile()
    assert sum(ins == "FROM" for ins, _ in instructions) >= 2
    runs = [args for ins, args in instructions if ins == "RUN"]
    assert any("uv sync --frozen --no-dev" in r for r in runs)
    final = final_stage()
    args = dict(final)
    default_image = next(a for i, a in instructions if i == "ARG" and a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.\d+-slim(-\w+)?", default_image)
    assert f"`{default_image.removeprefix('PYTHON_IMAGE=')}`" in (ROOT / "README.md").read_text()
    assert args["FROM"] == "${PYTHON_IMAGE}"
    assert args["USER"].split(":")[0] not in {"root", "0"}
    assert json.loads(args["ENTRYPOINT"]) == ["smstrio"]
    assert "/app/healthcheck.py" in args["HEALTHCHECK"]
    assert "/app/healthcheck.py" in " ".join(a for i, a in final if i == "COPY")


def test_containerfile_fetches_no_frontend_and_exposes_no_port() -> None:
    """No `# syntax=` line (a frontend fetched from a registry), no EXPOSE; compose publishes the monitor's port."""
    text = (ROOT / "containers" / "Containerfile").read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    assert [ins for ins, _ in containerfile() if ins == "EXPOSE"] == []
    assert COMPOSE["services"]["monitor"]["ports"] == ["127.0.0.1:8080:8080"]


def test_build_context_has_what_the_containerfile_copies() -> None:
    """Every file the Containerfile copies from the context exists and is not excluded by .dockerignore."""
    ignore = (ROOT / ".dockerignore").read_text()
    assert ignore == (ROOT / ".containerignore").read_text()
    patterns = [p for p in ignore.splitlines() if p and not p.startswith(("#", "!"))]
    copied = [a.split()[:-1] for i, a in containerfile() if i == "COPY" and not a.startswith("--from")]
    sources = [s for group in copied for s in group]
    assert {"pyproject.toml", "uv.lock", "smstrio"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        first = source.split("/")[0]
        excluded = [p for p in patterns if fnmatch.fnmatch(source, p.removeprefix("**/")) or p == first]
        assert not excluded, f"{source} is excluded by {excluded}"


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        (b"/app/.venv/bin/python\0/app/.venv/bin/smstrio\0monitor\0--port\0009000\0", "monitor"),
        (b"/sbin/docker-init\0--\0smstrio\0send\0", "send"),
        (b"/usr/bin/python3\0-m\0smstrio\0--log-level\0DEBUG\0produce\0", "produce"),
        (b"/usr/bin/python3\0-m\0smstrio\0", None),
        (b"redis-server\0--appendonly\0yes\0", None),
    ],
)
def test_health_check_finds_the_role_of_the_main_process(cmdline: bytes, role: str | None) -> None:
    """The image's health check reads which smstrio command the container runs from its command line."""
    healthcheck = _load(ROOT / "containers" / "healthcheck.py")
    assert healthcheck.role_of(cmdline) == role
