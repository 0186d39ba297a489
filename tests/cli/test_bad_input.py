"""CLI tier: bad flags, settings and servers, through ``main`` in-process: one line and a named exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from smstrio.cli import EXIT_UNAVAILABLE, EXIT_USAGE, main


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    return code if isinstance(code, int) else 1, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["send", "--failure-rate", "1.5"], "failure rate must be within 0..1, got 1.5"),
        (["send", "--mean", "-1"], "mean must be a number >= 0 seconds, got -1.0"),
        (["send", "--workers", "0"], "workers must be within 1..100000, got 0"),
        (["send", "--distribution", "weird"], "--distribution"),
        (["send", "--amqp-url", "http://broker"], "malformed AMQP URL 'http://broker'"),
        (["stats", "--redis-url", "redis://:secret@"], "malformed Redis URL 'redis://:***@'"),
        (["produce", "many"], 'unable to convert "many" into int'),
        (["produce", "--count", "-5"], "message count must be >= 0, got -5"),
        (["monitor", "--interval", "0"], "interval must be > 0 seconds, got 0.0"),
        (["send", "--bogus"], "Unknown option: --bogus"),
        (["stats", "--queue", "no spaces"], "invalid queue name 'no spaces'"),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An invalid flag gives exit code 2 and one line naming the problem, no traceback."""
    monkeypatch.chdir(tmp_path)
    code, err = _run_main(argv, capsys)
    assert code == EXIT_USAGE
    assert err.count("\n") == 1
    assert err.startswith("smstrio: error: ")
    assert message in err


def test_bad_environment_value_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A malformed environment value is reported with its variable name, exit code 2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAILURE_RATE", "abc")
    code, err = _run_main(["send"], capsys)
    assert code == EXIT_USAGE
    assert err.startswith("smstrio: error: FAILURE_RATE='abc'")


def test_bad_dotenv_value_is_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A ``.env`` value is validated like a flag: MEAN_PROCESSING_TIME=-2 gives exit code 2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEAN_PROCESSING_TIME", raising=False)
    (tmp_path / ".env").write_text("MEAN_PROCESSING_TIME=-2\n")
    code, err = _run_main(["send"], capsys)
    assert code == EXIT_USAGE
    assert "mean must be a number >= 0 seconds, got -2.0" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["stats", "--redis-url", "redis://127.0.0.1:1/0"],
        ["stats", "--amqp-url", "amqp://guest:topsecret@127.0.0.1:1/"],
    ],
)
def test_unreachable_server_exits_3_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An unreachable server gives exit code 3 and one line, without the password (no library log line either)."""
    monkeypatch.chdir(tmp_path)
    code, err = _run_main(argv, capsys)
    lines = err.splitlines()
    assert code == EXIT_UNAVAILABLE
    assert len(lines) == 1
    assert lines[0].startswith("smstrio: error: cannot connect to")
    assert "topsecret" not in err
