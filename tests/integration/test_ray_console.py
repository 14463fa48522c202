"""The console on Ray: Textual captures print() with writers that have no file descriptor (fileno() is -1),
which Ray's start-up used to refuse, so `executor = "ray"` failed in the console though it ran headless.

The scenario runs in its own process (Ray is one per process) with the real app, runtime and sim."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


def test_the_console_starts_its_sensors_on_a_local_ray_and_shows_their_votes():
    run = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=200, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "console on Ray: RUNNING" in run.stdout, run.stdout
    assert "Ray's agents after quit: none" in run.stdout, run.stdout


async def _console_on_ray() -> None:
    from casino_tui.app import CasinoApp
    from casino_tui.clock import ManualClock
    from casino_tui.config import load_config
    from casino_tui.exchange.sim.exchange import SimExchange
    from casino_tui.runtime import Runtime
    from casino_tui.sensors.ray_executor import _cmdline, _raylet_children
    from tests.ui.pilot_support import screen_lines, start, wait_until

    config = load_config(None, {"sensors": {"executor": "ray", "shards": 2}}, env={})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    runtime = Runtime(config, exchange=exchange, clock=clock, use_timers=False)
    app = CasinoApp(runtime, live=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await runtime.start()  # inside the app: print() is captured as in a real console run
        await runtime.advance(3 * 60_000, step_ms=2000)
        await start(app, pilot)
        await wait_until(pilot, lambda: runtime.snapshot().consensus, "votes from the Ray shards")
        snapshot = runtime.snapshot()
        assert not any(row.is_degraded for row in snapshot.consensus), snapshot.consensus
        text = "\n".join(screen_lines(app))
        assert "DEGRADED" not in text, text
        print(f"console on Ray: {snapshot.header.status.value}", file=sys.__stdout__)
        agents = _raylet_children()
        assert agents, "a local Ray has agents under its raylet"
        await runtime.shutdown()
    for _ in range(200):  # SIGTERM'd at shutdown: wait for them to go, up to 20 s
        left = [pid for pid, cmd in agents if _cmdline(pid) == cmd]
        if not left:
            break
        await asyncio.sleep(0.1)
    print(f"Ray's agents after quit: {left or 'none'}", file=sys.__stdout__)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    asyncio.run(_console_on_ray())
