"""UI load benchmark: what the console costs the process that also runs the engine.

The same simulated load (the sim at `--speed`, `--symbols` symbols, the sensors on their configured executor)
runs twice, each in its own child process: once headless, once with the console rendered at 120×40 into a
terminal that discards what it receives (Textual draws every frame to escape sequences, as for a real
terminal). Once the runtime is RUNNING (start-up's history and warm-up are not measured), each child measures
for `--seconds`: the main process's CPU (the sensors compute in worker processes, so this is the engine's
loop plus the console), the event loop's lag (how late a sleeping sampler task wakes, p99), and RSS growth
from 10 % of the window (the first minute of a 10-minute soak) to the end. Prints machine info, then one
JSON object on the last line: cpu_ui_pct, cpu_headless_pct (% of one core), loop_lag_p99_ms_ui,
loop_lag_p99_ms_headless, rss_growth_pct (the console's run) and the details of both runs.

    .venv/bin/python benchmarks/ui_load.py --symbols 8 --seconds 60
    .venv/bin/python benchmarks/ui_load.py --symbols 50 --seconds 60
    .venv/bin/python benchmarks/ui_load.py --seconds 600          # the RSS soak
    .venv/bin/python benchmarks/ui_load.py --tiny                 # a few seconds, what the test suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import emit, machine_info, parse_args, print_machine  # noqa: E402

TINY = {"symbols": 8, "seconds": 4.0, "settle": 0.5, "executor": "inline"}
SIZE = (120, 40)
LAG_SAMPLE_S = 0.02  # the sampler's sleep; how late it wakes is the loop's lag
READY_DEADLINE_S = 300.0
RSS_MARK_SHARE = 0.1  # RSS growth is measured from this share of the window to its end...
RSS_MARK_MAX_S = 60.0  # ...but from minute 1 at the latest


class Mode(enum.StrEnum):
    HEADLESS = "headless"
    UI = "ui"


def rss_mb() -> float:
    """The resident set size now (not the peak)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class LagSampler:
    """A task that sleeps `LAG_SAMPLE_S` over and over and records how late each wake-up was."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample(), name="lag-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_SAMPLE_S
            await asyncio.sleep(LAG_SAMPLE_S)
            self.lags_ms.append(max(0.0, (loop.time() - due) * 1000))


async def wait_until_running(runtime: Any, engine: asyncio.Task[Any]) -> None:
    """Until the runtime is RUNNING; start-up's history and warm-up are not what this benchmark measures."""
    deadline = time.monotonic() + READY_DEADLINE_S
    while not runtime.status.is_ready:
        if engine.done():
            engine.result()  # raises what stopped it
            raise SystemExit(f"the runtime stopped during start-up ({runtime.status})")
        if time.monotonic() > deadline:
            raise SystemExit(f"not RUNNING after {READY_DEADLINE_S:.0f}s ({runtime.status})")
        await asyncio.sleep(0.05)


async def measure(runtime: Any, engine: asyncio.Task[Any], args: argparse.Namespace) -> dict[str, Any]:
    """Wait for RUNNING, settle, then measure CPU, loop lag and RSS over `args.seconds`."""
    await wait_until_running(runtime, engine)
    await asyncio.sleep(args.settle)
    sampler = LagSampler()
    sampler.start()
    before = runtime.snapshot()
    rss_mark_at = min(args.seconds * RSS_MARK_SHARE, RSS_MARK_MAX_S)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.sleep(rss_mark_at)
    rss_mark = rss_mb()
    await asyncio.sleep(args.seconds - rss_mark_at)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    rss_end = rss_mb()
    after = runtime.snapshot()
    await sampler.stop()
    lags = sampler.lags_ms
    return {
        "cpu_pct": round(100 * cpu / wall, 2),
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "loop_lag_p50_ms": round(percentile(lags, 50), 2),
        "loop_lag_p99_ms": round(percentile(lags, 99), 2),
        "loop_lag_max_ms": round(max(lags), 2),
        "loop_lag_mean_ms": round(statistics.fmean(lags), 3),
        "lag_samples": len(lags),
        "rss_mark_mb": round(rss_mark, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_pct": round(100 * (rss_end - rss_mark) / rss_mark, 2),
        "ticks": after.counters.ticks - before.counters.ticks,
        "snapshots": after.seq - before.seq - 1,
        "status": str(after.header.status),
    }


def discarding_terminal() -> type[Any]:
    """A Textual driver that takes every frame as a terminal would (escape sequences) and throws it away."""
    from textual.drivers.headless_driver import HeadlessDriver

    class DiscardingTerminal(HeadlessDriver):
        written = 0

        @property
        def is_headless(self) -> bool:
            return False  # so the app renders its updates to escape sequences and writes them

        def write(self, data: str) -> None:
            DiscardingTerminal.written += len(data)

    return DiscardingTerminal


async def run_child(mode: Mode, args: argparse.Namespace, state_dir: Path) -> dict[str, Any]:
    from casino_tui.config import load_config
    from casino_tui.console import console_app, engine_running, start_pool_helpers
    from casino_tui.engine.logbuffer import LogSetup
    from casino_tui.exchange.sim.market import synthetic_symbols
    from casino_tui.headless import run_headless
    from casino_tui.paths import state_paths
    from casino_tui.runtime import Runtime

    overrides: dict[str, dict[str, Any]] = {
        "": {"symbols": synthetic_symbols(args.symbols)},
        "sim": {"speed": args.speed, "seed": args.seed},
        "sensors": {"executor": args.executor},
        "runtime": {"state_dir": str(state_dir)},
        "ui": {"refresh_hz": args.refresh_hz},
    }
    config = load_config(None, overrides, env={})
    paths = state_paths(str(state_dir), config.exchange.name).ensure()
    logs = LogSetup(paths.log_file, stdout=False)
    start_pool_helpers(config)
    runtime = Runtime(config, paths=paths, log_setup=logs)
    try:
        if mode is Mode.HEADLESS:
            engine = asyncio.create_task(run_headless(config, paths, None, logs, runtime=runtime))
            try:
                return await measure(runtime, engine, args)
            finally:
                runtime.request_stop()
                await engine
        app = console_app(runtime, config)
        terminal = app.driver_class = discarding_terminal()
        async with engine_running(runtime, app) as engine:
            async with app.run_test(headless=False, size=SIZE, notifications=True):
                result = await measure(runtime, engine, args)
        result["terminal_kb_per_s"] = round(terminal.written / 1024 / result["wall_s"], 1)
        return result
    finally:
        logs.close()


def spawn(mode: Mode, args: argparse.Namespace) -> dict[str, Any]:
    """Run one mode in a child process (its own memory and CPU account) and read its JSON line."""
    command = [sys.executable, __file__, "--child", mode.value]
    for flag in ("symbols", "seconds", "settle", "speed", "seed", "executor", "refresh_hz"):
        command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    with tempfile.TemporaryDirectory(prefix=f"ui_load_{mode.value}_") as tmp:
        done = subprocess.run(
            [*command, "--state-dir", tmp],
            capture_output=True,
            text=True,
            timeout=args.seconds + args.settle + READY_DEADLINE_S + 60,
        )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"the {mode} run failed with exit code {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="the measured window of each run")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after RUNNING before measuring")
    parser.add_argument("--speed", type=float, default=30.0, help="sim clock multiplier (the default 30×)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--executor", choices=("pool", "inline"), default="pool")
    parser.add_argument("--refresh-hz", type=float, default=4.0, help="[ui] refresh_hz")
    parser.add_argument("--child", choices=[m.value for m in Mode], help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", type=Path, help=argparse.SUPPRESS)
    args = parse_args(parser, TINY)
    if args.symbols < 1 or args.seconds <= 0 or args.settle < 0 or args.speed <= 0:
        parser.error("--symbols must be at least 1, --seconds and --speed positive, --settle not negative")
    if args.child is not None:
        result = asyncio.run(run_child(Mode(args.child), args, args.state_dir))
        print(json.dumps(result), flush=True)
        return

    info = machine_info()
    print_machine(info)
    headless = spawn(Mode.HEADLESS, args)
    ui = spawn(Mode.UI, args)
    result = {
        "benchmark": "ui_load",
        "symbols": args.symbols,
        "seconds": args.seconds,
        "speed": args.speed,
        "executor": args.executor,
        "size": f"{SIZE[0]}x{SIZE[1]}",
        "cpu_ui_pct": ui["cpu_pct"],
        "cpu_headless_pct": headless["cpu_pct"],
        "loop_lag_p99_ms_ui": ui["loop_lag_p99_ms"],
        "loop_lag_p99_ms_headless": headless["loop_lag_p99_ms"],
        "rss_growth_pct": ui["rss_growth_pct"],
        "rss_growth_pct_headless": headless["rss_growth_pct"],
        "ui": ui,
        "headless": headless,
    }
    emit(result, info, args)


if __name__ == "__main__":
    main()
