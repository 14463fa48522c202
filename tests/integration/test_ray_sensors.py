"""The sensors on Ray as an operator meets them: a headless run on a local Ray, a cluster that cannot be
reached at start (one line, exit 2), and a cluster lost mid-run (the symbols degrade, the process lives on).

Each scenario runs in its own process: Ray is one per process, and a lost cluster cannot be reconnected."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


def ray_env(**settings: str) -> dict[str, str]:
    return {**os.environ, "CASINO_SENSORS_EXECUTOR": "ray", "CASINO_SENSORS_SHARDS": "2", **settings}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the with ends: nothing listens there


def headless(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "casino_tui.cli", "--headless", "--state-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=200,
        cwd=ROOT,
    )


def test_an_unreachable_ray_cluster_at_start_is_one_line_on_stderr_and_exit_2(tmp_path):
    address = f"127.0.0.1:{closed_port()}"
    run = headless(tmp_path, ray_env(CASINO_SENSORS_ADDRESS=address), "--timeout", "30")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Ray cluster at {address} is unreachable" in lines[0], run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_a_headless_run_with_sensors_on_a_local_ray_gets_ready_and_stops_cleanly(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "--headless", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ray_env(),
        cwd=ROOT,
    )
    lines: list[str] = []
    while not any("ready:" in line for line in lines[-1:]):
        line = proc.stdout.readline()
        assert line, f"exited before ready: {proc.wait()} {proc.stderr.read()}"
        lines.append(line)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    lines += out.splitlines()
    assert proc.returncode == 0, err
    assert any("sensors: Ray local, 1 node(s)" in line for line in lines)
    report = json.loads(Path(lines[-1].removeprefix("report: ")).read_text())
    assert report["errors"] == 0, report
    assert err == "", "Ray's notices go to the log, not over the console"


def test_a_ray_cluster_lost_mid_run_degrades_every_shard_and_the_process_lives_on():
    run = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=200, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["before"] == {"degraded": 0, "alive": [True, True]}
    # Every batch after the loss is still delivered, in order, with every symbol degraded.
    assert seen["after"] == [{"degraded": 6, "votes": 0}] * 3
    assert seen["alive_after"] == [False, False] and seen["restarts"] == [0, 0]
    assert seen["stopped_in_s"] < 30


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def lose_the_cluster() -> dict[str, object]:
    """A manager on a local Ray whose every process (GCS, raylet, actors) is SIGKILLed between two closes."""
    import numpy as np
    import ray

    from casino_tui.config import SensorsConfig
    from casino_tui.model import Candle
    from casino_tui.sensors.manager import SensorManager
    from casino_tui.sensors.ray_executor import LOCAL, RaySession, RayShardExecutor
    from casino_tui.sensors.votes import VoteBatch

    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT"]
    rng = np.random.default_rng(5)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, (200, len(symbols))), axis=0))

    def candles(t: int) -> list[Candle]:
        return [Candle(s, "1m", t * 60_000, *(float(closes[t, j]),) * 4, 1.0) for j, s in enumerate(symbols)]

    delivered: list[VoteBatch] = []
    # 20 s bounds both the start (slow on a loaded 2-core machine) and the stop after the loss (< 30 s).
    executor = RayShardExecutor(RaySession(LOCAL, num_cpus=2, timeout_s=20.0))
    manager = SensorManager(symbols, SensorsConfig(shards=2), delivered.append, executor=executor)
    await manager.start(
        {"1m": {s: [c for t in range(150) for c in candles(t) if c.symbol == s] for s in symbols}}
    )
    manager.submit("1m", 150 * 60_000, candles(150))
    await manager.flush()
    seen: dict[str, object] = {
        "before": {
            "degraded": int(delivered[-1].degraded.sum()),
            "alive": [h.is_alive for h in manager.health()],
        }
    }

    node = ray._private.worker._global_node  # test-only: the local cluster's own processes
    pids = [p.process.pid for procs in node.all_processes.values() for p in procs]
    pids += [child for pid in pids for child in children(pid)]  # the raylet's agents would outlive it
    pids += [manager.worker_pid(k) for k in range(manager.shard_count)]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)

    done = len(delivered)
    for t in range(151, 154):
        manager.submit("1m", t * 60_000, candles(t))
        await manager.flush()
    seen["after"] = [
        {"degraded": int(b.degraded.sum()), "votes": int(abs(b.votes).sum())} for b in delivered[done:]
    ]
    seen["alive_after"] = [h.is_alive for h in manager.health()]
    seen["restarts"] = [h.restarts for h in manager.health()]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await manager.stop()
    seen["stopped_in_s"] = loop.time() - started
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(lose_the_cluster())))
