"""CLI: usage and config errors are one line and exit 2; init-config writes a loadable file."""

import socket
import subprocess
import sys

import pytest

from casino_tui import __version__
from casino_tui.cli import main
from casino_tui.config import load_config
from casino_tui.engine.journal import Journal
from casino_tui.model import JournalKind


def run_cli(*args: str, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "casino_tui.cli", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_version_flag_prints_the_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--speed", "-3"], "must be > 0"),
        (["--exchange", "kraken"], "invalid choice"),
        (["--symbols", ","], "--symbols"),
        (["--timeout", "soon"], "not a number"),
        (["--speed", "inf"], "must be a finite number"),
        (["--timeout", "inf"], "must be a finite number"),
        (["--speed", "nan"], "must be > 0"),
        (["--log-format", "json"], "--log-format applies to --headless only"),
        (["--headless", "--log-format", "xml"], "invalid choice"),
        (["--headless", "--metrics-port", "70000"], "metrics.port"),
        (["--headless", "--metrics-port", "http"], "not an integer"),
    ],
)
def test_bad_flag_is_one_line_and_exit_2(capsys, args, expected):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_config_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[trading]\nnotional_usdt = -1\n")
    assert main(["--config", str(path), "--headless"]) == 2
    err = capsys.readouterr().err
    assert "trading.notional_usdt" in err and err.count("\n") == 1


def test_unknown_symbol_is_one_line_and_exit_2(tmp_path):
    result = run_cli("--headless", "--symbols", "FOOUSDT", "--state-dir", str(tmp_path), "--timeout", "5")
    assert result.returncode == 2, result.stderr
    assert "unknown symbol" in result.stderr and "FOOUSDT" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_init_config_writes_a_commented_loadable_file(tmp_path, capsys):
    path = tmp_path / "conf" / "casino.toml"
    assert main(["init-config", str(path)]) == 0
    assert path.read_text().startswith("# casino-tui configuration")
    assert load_config(path, env={}).exchange.name == "sim"
    assert main(["init-config", str(path)]) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "conflict"),
    [
        (
            ["--exchange", "sim", "--rest-url", "http://127.0.0.1:8765"],
            "--rest-url does not apply to --exchange sim",
        ),
        (
            ["--exchange", "sim", "--ws-url", "ws://127.0.0.1:8765"],
            "--ws-url does not apply to --exchange sim",
        ),
        (["--exchange", "sim", "--live"], "--live does not apply to --exchange sim"),
        (["--rest-url", "http://127.0.0.1:8765"], "--rest-url does not apply to --exchange sim"),
        (["--live"], "exchange.live (--live): live trading needs exchange.name = 'binance', not 'sim'"),
        (["--exchange", "binance-testnet", "--live"], "not 'binance-testnet'"),
        (["--headless", "--mouse"], "--mouse does not apply to --headless"),
        (["--exchange", "binance", "--speed", "5"], "--speed applies to the simulated exchange only"),
        (["--exchange", "binance-testnet", "--seed", "3"], "--seed applies to the simulated exchange only"),
        (["--confirm-live", "abcd"], "--confirm-live applies to --headless --live only"),
        (["--headless", "--confirm-live", "abcd"], "--confirm-live applies to --headless --live only"),
        (["check", "--exchange", "sim", "--rest-url", "http://127.0.0.1:1"], "--rest-url does not apply"),
    ],
)
def test_flags_that_do_not_apply_to_the_mode_are_refused_naming_the_conflict(
    capsys, monkeypatch, args, conflict
):
    monkeypatch.delenv("CASINO_EXCHANGE_NAME", raising=False)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert conflict in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_theme_is_one_line_and_exit_2_before_the_console_starts(tmp_path, capsys):
    path = tmp_path / "theme.toml"
    path.write_text('[ui]\ntheme = "nope"\n')
    assert main(["--config", str(path), "--state-dir", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err
    assert "ui.theme: unknown theme 'nope'" in err and "textual-dark" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "state").exists(), "nothing may start before the configuration is known good"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", "needs --confirm-live ACCOUNT (or CASINO_CONFIRM_LIVE)"), ("wxyz", "does not match the API key")],
)
def test_headless_live_needs_the_key_suffix_before_anything_is_built(
    tmp_path, capsys, monkeypatch, given, expected
):
    monkeypatch.setenv("BINANCE_API_KEY", "abcd1234")
    monkeypatch.setenv("BINANCE_API_SECRET", "secret")
    monkeypatch.setenv("CASINO_CONFIRM_LIVE", given)
    args = ["--headless", "--exchange", "binance", "--live", "--state-dir", str(tmp_path / "state")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert "abcd1234" not in err and "1234" not in err, "the key itself is never echoed"
    assert not (tmp_path / "state").exists()


def test_journal_into_a_closed_pipe_exits_quietly(tmp_path):
    journal = Journal(tmp_path / "sim" / "journal.sqlite3")
    for i in range(5000):  # far more than a pipe buffer holds
        journal.append(JournalKind.COMMAND, {"command": "pause", "i": i})
    journal.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "journal", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "COMMAND" in proc.stdout.readline()  # what `head -1` reads, then it goes away
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert err == ""


def test_check_with_nothing_listening_names_the_url_in_one_line(capsys, monkeypatch):
    with socket.socket() as sock:  # bind then close: a loopback port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("BINANCE_API_KEY", "k")
    monkeypatch.setenv("BINANCE_API_SECRET", "s")
    url = f"http://127.0.0.1:{port}"
    assert (
        main(["check", "--exchange", "binance", "--rest-url", url, "--ws-url", f"ws://127.0.0.1:{port}"]) == 2
    )
    captured = capsys.readouterr()
    assert f"cannot reach binance at {url}" in captured.err
    assert captured.err.count("\n") == 1 and "breaker" not in captured.err + captured.out
