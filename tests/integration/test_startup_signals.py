"""Signals from the first instruction: a headless run stopped while it starts still exits 0 with a report.

To signal inside the CLI's first instants deterministically, the config file is a FIFO: the process blocks
opening it, after installing its handlers (they show in /proc/<pid>/status) and long before its event loop
exists. The test signals then, and only then writes the config. No sleeps decide the timing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DEADLINE_S = 60.0


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CASINO_SENSORS_SHARDS": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "--headless", "--state-dir", str(tmp_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def caught_signals(pid: int) -> int:
    """The process's caught-signal mask (bit n-1 for signal n)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def wait_until_it_catches(proc: subprocess.Popen[str], *signals: signal.Signals) -> None:
    """Until the process has handlers for `signals` (the CLI's first act), polling its /proc entry."""
    mask = sum(1 << (s - 1) for s in signals)
    deadline = time.monotonic() + DEADLINE_S
    while caught_signals(proc.pid) & mask != mask:
        assert proc.poll() is None, f"the process ended first: {proc.communicate()}"
        assert time.monotonic() < deadline, "the process never installed its signal handlers"
        time.sleep(0.001)


def read_until(proc: subprocess.Popen[str], needle: str) -> list[str]:
    lines: list[str] = []
    while line := proc.stdout.readline():
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never appeared; output:\n{''.join(lines)}")


def finish(proc: subprocess.Popen[str], before: list[str] | None = None) -> tuple[int, list[str], str]:
    out, err = proc.communicate(timeout=DEADLINE_S)
    lines = [line.rstrip("\n") for line in (before or []) + out.splitlines()]
    return proc.returncode, lines, err


def report_of(lines: list[str]) -> dict:
    assert lines and lines[-1].startswith("report: "), lines[-5:]
    return json.loads(Path(lines[-1].removeprefix("report: ")).read_text())


def blocked_on_its_config(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """A headless run waiting to read its config from a FIFO, with its signal handlers in place."""
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    proc = start(tmp_path, "--config", str(fifo))
    wait_until_it_catches(proc, signal.SIGTERM, signal.SIGUSR2)
    return proc, fifo


def release(fifo: Path) -> None:
    fifo.write_text("[sensors]\nshards = 2\n")  # blocks until the process opens it, then lets it go on


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to see handlers")


@needs_proc
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_in_the_first_instants_ends_in_order_with_a_report(tmp_path, sig):
    proc, fifo = blocked_on_its_config(tmp_path)
    proc.send_signal(sig)
    release(fifo)
    code, lines, err = finish(proc)
    assert code == 0, err
    assert "Traceback" not in err and not any("Traceback" in line for line in lines)
    assert any(f"{sig.name} received: orderly shutdown" in line for line in lines)
    assert not any("ready:" in line for line in lines), "a run stopped before start-up must not connect"
    report = report_of(lines)
    assert report["trades"] == 0 and report["open_positions"] == 0


@needs_proc
def test_control_signals_in_the_first_instants_do_not_kill_the_process(tmp_path):
    proc, fifo = blocked_on_its_config(tmp_path)
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGTERM):
        proc.send_signal(sig)
    release(fifo)
    code, lines, err = finish(proc)
    assert code == 0, err
    assert "Traceback" not in err
    assert any("SIGUSR1 arrived during start-up: ignored" in line for line in lines)
    report_of(lines)


def test_sigterm_during_warm_up_ends_in_order_with_a_report(tmp_path):
    proc = start(tmp_path)
    before = read_until(proc, "loading")
    proc.send_signal(signal.SIGTERM)
    code, lines, err = finish(proc, before)
    assert code == 0, err
    assert any("SIGTERM received: orderly shutdown" in line for line in lines)
    report_of(lines)
