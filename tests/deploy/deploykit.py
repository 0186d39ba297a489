"""What the deployment tests share: the root, just, a time cap, loading a script, the settings' names."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


JUST = Path(sys.executable).with_name("just")
TIMEOUT_S = 90


def _load(path: Path) -> ModuleType:
    """Import a script that is not in a package (scripts/, containers/)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def known_env_names() -> set[str]:
    """Environment names the settings read, found in the code: ``src.pick(flag, ("NAME", ...), ...)``
    and ``src.env.get("NAME")`` in smstrio/core/config.py and smstrio/cli/*.py."""
    names: set[str] = set()
    for path in [ROOT / "smstrio" / "core" / "config.py", *sorted((ROOT / "smstrio" / "cli").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            func = node.func
            if func.attr == "pick" and len(node.args) >= 2 and isinstance(node.args[1], ast.Tuple):
                names |= {
                    e.value for e in node.args[1].elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
                }
            if func.attr == "get" and isinstance(func.value, ast.Attribute) and func.value.attr == "env" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    return names
