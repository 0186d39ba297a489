"""CLI tier: the gateway flags of ``smstrio send`` (bad input) and ``smstrio mock-gateway`` as a process."""

from __future__ import annotations

import json
import signal
import sys
from functools import partial
from pathlib import Path

import pytest
import trio

from smstrio.cli import EXIT_USAGE, main
from smstrio.testing import free_port, http_get

SECRET = "s3cr3t-t0ken"
HTTP = ["send", "--gateway", "http"]


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([*HTTP, "--gateway-url", "ftp://sms.example.com/"], {}, "gateway URL 'ftp://sms.example.com/' is not an HTTP"),
        ([*HTTP, "--gateway-url", f"ftp://sms.example.com/?key={SECRET}"], {}, "'ftp://sms.example.com/?key=***'"),
        (HTTP, {}, "--gateway http needs --gateway-url (or GATEWAY_URL)"),
        (["send", "--gateway-url", "http://h/"], {}, "a gateway URL is used only with --gateway http"),
        (["send"], {"GATEWAY": "http", "GATEWAY_URL": "h:80"}, "gateway URL 'h:80' is not an HTTP URL"),
        ([*HTTP, "--gateway-url", "http://h/", "--gateway-template", '{"to": "{to}"'], {}, "template is not JSON"),
        ([*HTTP, "--gateway-url", "http://h/", "--gateway-template", '{"to": "{phone}"}'], {}, "{phone}"),
        ([*HTTP, "--gateway-url", "http://h/", "--gateway-header", f"Bearer {SECRET}"], {}, "'Name: value'"),
        ([*HTTP, "--gateway-url", "http://h/"], {"GATEWAY_HEADERS": f"Authorization: {SECRET}"}, "GATEWAY_HEADERS"),
        ([*HTTP, "--gateway-url", "http://h/", "--gateway-method", "GET"], {}, "invalid gateway method 'GET'"),
        ([*HTTP, "--gateway-url", "http://h/", "--gateway-timeout", "0"], {}, "gateway timeout must be > 0"),
        (["mock-gateway", "--error-rate", "2"], {}, "error rate must be within 0..1, got 2.0"),
    ],
    ids=[
        "ftp",
        "ftp-redacted",
        "no-url",
        "url-unused",
        "env-url",
        "template-json",
        "template-field",
        "header",
        "env-headers",
        "method",
        "timeout",
        "mock-rate",
    ],
)
def test_bad_gateway_input_exits_2_with_one_line_and_no_secret(
    argv: list[str],
    env: dict[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A bad gateway flag or variable gives exit 2 and one line naming the problem, never a header value or key."""
    monkeypatch.chdir(tmp_path)
    for name in ("GATEWAY", "GATEWAY_URL", "GATEWAY_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == EXIT_USAGE
    assert err.count("\n") == 1
    assert err.startswith("smstrio: error: ")
    assert message in err
    assert SECRET not in err


async def test_mock_gateway_serves_until_sigterm_then_exits_0(tmp_path: Path) -> None:
    """smstrio mock-gateway --port P answers GET /received at once and exits 0 on SIGTERM, logging its counts."""
    port = free_port()
    argv = [sys.executable, "-m", "smstrio", "mock-gateway", "--port", str(port)]  # stderr is no terminal: JSON lines
    log = tmp_path / "mock.log"
    with trio.fail_after(60), log.open("wb") as stderr:
        async with trio.open_nursery() as nursery:
            process = await nursery.start(partial(trio.run_process, argv, check=False, stderr=stderr))
            while True:
                try:
                    status, _, body = await http_get("127.0.0.1", port, "/received")
                    break
                except OSError:
                    assert process.returncode is None, log.read_text()
                    await trio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
    assert (status, json.loads(body)["requests"]) == (200, 0)
    assert process.returncode == 0
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["serving", "stopping gracefully", "stopped serving"]
