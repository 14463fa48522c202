"""CLI: usage and config errors are one line and exit 2; init-config writes a loadable file."""

import subprocess
import sys

import pytest

from casino_tui import __version__
from casino_tui.cli import main
from casino_tui.config import load_config


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
