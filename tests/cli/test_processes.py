"""CLI tier: ``--processes`` of ``send`` and ``produce``, its environment variable and the children's command line."""

from __future__ import annotations

import os
from typing import Any

import pytest

from smstrio.cli import EXIT_USAGE
from smstrio.cli._processes import child_arguments, process_count
from smstrio.core.sources import Sources


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["send", "--processes", "two"], {}, "--processes 'two': a whole number or auto"),
        (["send"], {"SENDER_PROCESSES": "many"}, "SENDER_PROCESSES='many': a whole number or auto"),
        (["send", "--processes", "0"], {}, "processes must be within 1..1024, got 0"),
        (["send", "--processes", "2"], {}, "--processes starts this command again as child processes"),
        (["produce", "--processes", "two"], {}, "--processes 'two': a whole number or auto"),
        (["produce"], {"PRODUCER_PROCESSES": "0"}, "processes must be within 1..1024, got 0"),
    ],
)
def test_bad_processes_exit_2_with_one_line(
    argv: list[str], env: dict[str, str], message: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad count, or a command line that is not smstrio's own (here pytest's), exits 2 with one line."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = cli(*argv)
    assert code == EXIT_USAGE
    assert len(err) == 1
    assert message in err[0]


def test_auto_is_the_cpu_count_and_the_flag_beats_the_environment() -> None:
    """auto (any case) counts the CPUs; the flag wins over SENDER_PROCESSES, which wins over the default 1."""
    env = Sources({"SENDER_PROCESSES": "3"})
    assert process_count(None, env, "SENDER_PROCESSES") == 3
    assert process_count("Auto", env, "SENDER_PROCESSES") == (os.cpu_count() or 1)
    assert process_count("4", env, "SENDER_PROCESSES") == 4
    assert process_count(None, Sources({"SENDER_PROCESSES": "auto"}), "SENDER_PROCESSES") == (os.cpu_count() or 1)
    assert process_count(None, Sources({}), "SENDER_PROCESSES") == 1


def test_children_get_the_command_line_without_processes() -> None:
    """The children's arguments drop --processes N and --processes=N and keep everything else in order."""
    argv = ["send", "--processes", "2", "--workers", "5", "--processes=auto", "--until-empty", "--seed", "1"]
    assert child_arguments(argv) == ["send", "--workers", "5", "--until-empty", "--seed", "1"]
