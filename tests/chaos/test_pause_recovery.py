"""A pause survives a SIGKILL that comes before any snapshot: the journal alone carries it.

The headless engine is paused with SIGUSR1 and killed the moment it logs the pause; its snapshot interval is
an hour, so no snapshot can hold the pause. The runtime started next on the same state directory is PAUSED.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from casino_tui.config import load_config
from casino_tui.paths import state_paths
from casino_tui.runtime import Runtime

DEADLINE_S = 60.0
CONFIG_TOML = """\
symbols = ["BTCUSDT", "ETHUSDT"]

[sensors]
executor = "inline"

[runtime]
snapshot_interval_s = 3600
"""


def read_until(proc: subprocess.Popen[str], needle: str, seen: list[str]) -> None:
    assert proc.stdout is not None
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"{needle!r} never appeared; output:\n{''.join(seen)}")


async def test_a_pause_logged_then_killed_before_any_snapshot_is_paused_after_restart(tmp_path: Path) -> None:
    config_file = tmp_path / "casino.toml"
    config_file.write_text(CONFIG_TOML)
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASINO_", "BINANCE_"))}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "--headless", "--config", str(config_file)]
        + ["--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    seen: list[str] = []
    try:
        read_until(proc, "ready:", seen)
        proc.send_signal(signal.SIGUSR1)
        read_until(proc, "paused: no new entries", seen)
        proc.kill()
        proc.wait(DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    paths = state_paths(state, "sim")
    assert not list(paths.snapshots.glob("state.json*")), "a snapshot was written: the test proves nothing"

    config = load_config(config_file, {"runtime": {"state_dir": str(state)}}, env={})
    restarted = Runtime(config, paths=paths, use_timers=False)
    await restarted.start()
    try:
        assert restarted.is_paused
        assert restarted.snapshot().header.status == "PAUSED"
    finally:
        await restarted.shutdown()
