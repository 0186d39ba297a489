"""Where settings come from below the flags: the environment over the ``.env`` file, and the
parsers of their values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError

T = TypeVar("T")


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file; ``#`` comments, ``export`` and quotes allowed."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass(frozen=True, slots=True)
class Sources:
    """Where settings come from, below the flags: the environment over the ``.env`` file."""

    env: Mapping[str, str]

    @classmethod
    def load(cls, environ: Mapping[str, str], dotenv: Path = Path(".env")) -> Sources:
        # An empty environment variable counts as unset, so it does not hide the .env value.
        return cls({**read_dotenv(dotenv), **{k: v for k, v in environ.items() if v.strip()}})

    def pick(self, flag: T | None, names: tuple[str, ...], parse: Callable[[str], T], default: T) -> T:
        """The flag if given, else the first environment name set, else the default."""
        if flag is not None:
            return flag
        for name in names:
            raw = self.env.get(name)
            if raw is not None and raw.strip() != "":
                try:
                    return parse(raw.strip())
                except ValueError as exc:
                    raise ConfigError(f"{name}={raw!r}: {exc}") from exc
        return default


def as_float(raw: str) -> float:
    return float(raw)


def as_int(raw: str) -> int:
    return int(raw)


def as_distribution(raw: str) -> Distribution:
    try:
        return Distribution(raw.lower())
    except ValueError:
        raise ValueError(f"one of {', '.join(d.value for d in Distribution)}") from None
