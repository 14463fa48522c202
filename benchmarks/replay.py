"""Replay benchmark: N aggTrades over 20 symbols, replayed headless at max speed with every sensor.

The data is generated first (seeded: a random walk per symbol, bursty arrivals, ~200 trades per second of
data over all symbols), one Binance aggTrades CSV per symbol as data.binance.vision names them. The replay
then runs in a child process (so its memory is its own) exactly as `casino-tui replay FILE... --headless
--speed max` builds it, with the sensor catalog on the configured executor. Prints machine info, then one
JSON object on its last line: ticks_per_s (every trade of the files over the whole run: warm-up, start-up,
replay and report), replay_ticks_per_s (the replay proper), peak_rss_mb and rss_growth_pct (RSS when 10 %
of the trades are replayed → at the end).

    .venv/bin/python benchmarks/replay.py --ticks 10000000 [--symbols 20] [--executor inline]
    .venv/bin/python benchmarks/replay.py --tiny      # seconds, what the test suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import emit, machine_info, parse_args, print_machine  # noqa: E402

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TRADES_PER_S = 200.0  # over all symbols, in data time
ROWS_PER_CHUNK = 500_000
TINY = {"ticks": 60_000, "symbols": 20, "warmup": 2}  # five minutes of data


def generate(directory: Path, symbols: list[str], ticks: int, seed: int) -> list[Path]:
    """One aggTrades CSV per symbol, `ticks` trades in all, written in chunks (never all in memory)."""
    rng = np.random.default_rng(seed)
    n = len(symbols)
    weights = 1.0 / np.arange(1, n + 1) ** 0.7  # the first symbols trade more, as the majors do
    weights /= weights.sum()
    prices = np.exp(rng.uniform(np.log(0.05), np.log(50_000.0), n))
    decimals = np.clip(5 - np.floor(np.log10(prices)).astype(int), 1, 8)
    paths = [directory / f"{symbol}-aggTrades-2026-01-01.csv" for symbol in symbols]
    files = [path.open("w") for path in paths]
    agg_ids = np.zeros(n, dtype=np.int64)
    clock = float(START_MS)
    try:
        for lo in range(0, ticks, ROWS_PER_CHUNK):
            count = min(ROWS_PER_CHUNK, ticks - lo)
            gaps = rng.exponential(1000.0 / TRADES_PER_S, count)
            times = (clock + np.cumsum(gaps)).astype(np.int64)
            clock = float(times[-1])
            who = rng.choice(n, size=count, p=weights)
            moves = rng.normal(0.0, 0.0006, count)
            qty = rng.exponential(1.0, count) * 200.0
            maker = rng.random(count) < 0.5
            for i, symbol in enumerate(symbols):
                mine = np.flatnonzero(who == i)
                if not len(mine):
                    continue
                walk = prices[i] * np.exp(np.cumsum(moves[mine]))
                prices[i] = walk[-1]
                ids = agg_ids[i] + np.arange(len(mine))
                agg_ids[i] += len(mine)
                d = int(decimals[i])
                rows = [
                    f"{a},{p:.{d}f},{q:.3f},{a * 3},{a * 3 + 2},{t},{'true' if m else 'false'}"
                    for a, p, q, t, m in zip(
                        ids.tolist(),
                        walk.tolist(),
                        (qty[mine] / walk + 0.001).tolist(),
                        times[mine].tolist(),
                        maker[mine].tolist(),
                        strict=True,
                    )
                ]
                files[i].write("\n".join(rows) + "\n")
                del symbol
    finally:
        for fh in files:
            fh.close()
    return paths


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def run_child(args: argparse.Namespace) -> None:
    """The replay itself, in this (child) process: prints one JSON line with its figures."""
    from casino_tui.config import load_config
    from casino_tui.exchange.replay.sources import open_source
    from casino_tui.headless import run_headless
    from casino_tui.paths import StatePaths
    from casino_tui.replay import build_runtime

    files = sorted(Path(args.data).glob("*.csv"))
    state = StatePaths(Path(args.data) / "state").ensure()
    # The 1h trend filter needs some 50 h of history: without it the player trades on the first day.
    player = {} if args.no_trading else {"htf_filter": False}
    config = load_config(None, {"sensors": {"executor": args.executor}, "player": player}, env={})
    wall0 = time.perf_counter()
    source = open_source(files)
    config.symbols = list(source.symbols)
    replay_args = argparse.Namespace(speed=None, warmup=args.warmup)
    runtime = build_runtime(source, config, replay_args, state, None)
    total = args.ticks
    samples: dict[str, float] = {}
    done = threading.Event()

    def sample() -> None:
        """RSS once a tenth of the trades are replayed; ticks replayed and time at the start of the replay."""
        while not done.wait(0.02):
            delivered = runtime.replay.delivered
            if "replay_start" not in samples and runtime.status == "RUNNING":
                samples["replay_start"] = time.perf_counter()
                samples["warmup_ticks"] = runtime.replay.warmup.trades
            if "rss_10" not in samples and delivered + runtime.replay.warmup.trades >= total * 0.1:
                samples["rss_10"] = _rss_mb()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    async def replay() -> None:
        from casino_tui.engine.logbuffer import LogSetup

        logs = LogSetup(None, stdout=False)
        try:
            await run_headless(config, state, None, logs, runtime=runtime)
        finally:
            logs.close()

    asyncio.run(replay())
    wall = time.perf_counter() - wall0
    done.set()
    sampler.join()
    rss_end = _rss_mb()
    report = runtime.report
    assert report is not None and report.complete, "the replay did not reach the end of the data"
    replay_s = time.perf_counter() - samples.get("replay_start", wall0)
    all_ticks = report.ticks + report.warmup_ticks
    rss_10 = samples.get("rss_10", rss_end)
    print(
        json.dumps(
            {
                "ticks": all_ticks,
                "replayed_ticks": report.ticks,
                "warmup_ticks": report.warmup_ticks,
                "wall_s": round(wall, 3),
                "ticks_per_s": round(all_ticks / wall),
                "replay_ticks_per_s": round(report.ticks / replay_s) if replay_s > 0 else None,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),
                "rss_10pct_mb": round(rss_10, 1),
                "rss_end_mb": round(rss_end, 1),
                "rss_growth_pct": round((rss_end - rss_10) / rss_10 * 100.0, 2),
                "candles_closed": report.candles_closed,
                "decisions": report.decisions,
                "trades": report.trades,
                "sensors": len(report.sensors),
                "errors": report.errors,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=10_000_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--executor", choices=("inline", "pool"), default="inline")
    parser.add_argument("--warmup", type=int, default=60, help="1m bars of the data read as history")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-trading", action="store_true", help="keep the 1h filter: no brackets on a day of data"
    )
    parser.add_argument("--data", help=argparse.SUPPRESS)  # the child's data directory
    args = parse_args(parser, TINY)
    if args.data:
        run_child(args)
        return
    if args.ticks < 1000 or args.symbols < 1:
        parser.error("--ticks must be at least 1000 and --symbols at least 1")

    info = machine_info()
    print_machine(info)
    symbols = [f"SYM{i:02d}USDT" for i in range(args.symbols)]
    with tempfile.TemporaryDirectory(prefix="casino-replay-bench-") as tmp:
        t0 = time.perf_counter()
        paths = generate(Path(tmp), symbols, args.ticks, args.seed)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        print(f"{'data':>15}: {args.ticks:,} trades, {len(paths)} files, {size_mb:.0f} MB "
              f"(generated in {time.perf_counter() - t0:.1f} s)")  # fmt: skip
        print(f"{'sensors':>15}: the whole catalog, {args.executor} executor")
        print(
            f"{'player':>15}: {'default' if args.no_trading else 'default, 1h trend filter off (it trades)'}"
        )
        child = subprocess.run(
            [sys.executable, __file__, "--data", tmp, "--ticks", str(args.ticks), "--executor", args.executor,
             "--warmup", str(args.warmup), *(["--no-trading"] if args.no_trading else [])],
            capture_output=True, text=True,
        )  # fmt: skip
        if child.returncode != 0:
            sys.stderr.write(child.stderr[-4000:])
            raise SystemExit(f"the replay failed (exit {child.returncode})")
        result = json.loads(child.stdout.strip().splitlines()[-1])
    emit(
        {
            "benchmark": "replay",
            "symbols": args.symbols,
            "executor": args.executor,
            "trading": not args.no_trading,
            **result,
        },
        info,
        args,
    )


if __name__ == "__main__":
    main()
