"""Headless runs as an operator would start them: a real process, its stdout, its signals and its report."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPORT_KEYS = {
    "trades",
    "realized_pnl",
    "fees",
    "open_positions",
    "brackets_opened",
    "brackets_closed",
    "errors",
    "duration_s",
}


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CASINO_SENSORS_SHARDS": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "--headless", "--state-dir", str(tmp_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_until(proc: subprocess.Popen[str], needle: str, lines: list[str], deadline_s: float = 90) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return
    raise AssertionError(f"{needle!r} never appeared; output:\n{''.join(lines)}")


def finish(proc: subprocess.Popen[str], lines: list[str]) -> tuple[int, list[str], str]:
    out, err = proc.communicate(timeout=90)
    lines.extend(out.splitlines(keepends=True))
    return proc.returncode, [line.rstrip("\n") for line in lines], err


def check_report(last_line: str) -> dict:
    assert last_line.startswith("report: "), last_line
    report = json.loads(Path(last_line.removeprefix("report: ")).read_text())
    assert REPORT_KEYS <= set(report)
    return report


def test_timeout_run_stops_cleanly_and_writes_the_report(tmp_path):
    proc = start(tmp_path, "--timeout", "6")
    code, lines, err = finish(proc, [])
    assert code == 0, err
    report = check_report(lines[-1])
    assert report["duration_s"] > 0 and report["errors"] == 0, report
    assert any("ready:" in line for line in lines)
    assert not any("Traceback" in line for line in lines)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_termination_signal_runs_the_orderly_shutdown(tmp_path, sig):
    proc = start(tmp_path)
    lines: list[str] = []
    read_until(proc, "ready:", lines)
    proc.send_signal(sig)
    code, lines, err = finish(proc, lines)
    assert code == 0, err
    assert any("orderly shutdown" in line for line in lines)
    check_report(lines[-1])


def test_sigusr1_toggles_pause_and_sigusr2_sweeps(tmp_path):
    proc = start(tmp_path)
    lines: list[str] = []
    read_until(proc, "ready:", lines)
    proc.send_signal(signal.SIGUSR1)
    read_until(proc, "paused: no new entries", lines)
    proc.send_signal(signal.SIGUSR1)
    read_until(proc, "resumed", lines)
    proc.send_signal(signal.SIGUSR2)
    read_until(proc, "sweep:", lines)
    proc.send_signal(signal.SIGTERM)
    code, lines, err = finish(proc, lines)
    assert code == 0, err
    check_report(lines[-1])


# Quick decisions on a fast sim clock, so brackets open within seconds of "ready:".
QUICK_TOML = """\
symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]
[sensors]
executor = "inline"
[player]
threshold = 0.05
debounce = 1
htf_filter = false
cooldown_s = 0
[sim]
speed = 60
"""


def test_sweep_then_sigterm_finishes_the_sweep_and_exits_flat(tmp_path):
    config = tmp_path / "quick.toml"
    config.write_text(QUICK_TOML)
    proc = start(tmp_path, "--config", str(config))
    lines: list[str] = []
    read_until(proc, "-> PROTECTED", lines)
    # The operator's sweep, and at once the stop: the sweep is committed and runs to its end first.
    proc.send_signal(signal.SIGUSR2)
    proc.send_signal(signal.SIGTERM)
    code, lines, err = finish(proc, lines)

    assert code == 0, err
    report = check_report(lines[-1])
    assert (report["sweep"], report["unprotected_at_exit"], report["open_positions"]) == ("flat", 0, 0), (
        report
    )
    assert report["exit_code"] == 0 and report["brackets_closed"] == report["brackets_opened"] >= 1
    assert any("shutdown: flat on the exchange (no position, no open order)" in line for line in lines)
    assert not any("stay protected" in line for line in lines)
    assert "Traceback" not in "".join(lines) + err
