"""Sensor executor latency: candle-close bursts through the real process pool (or Ray, or inline), against a
full recompute.

Every simulated minute all N symbols close a 1m candle at once (plus 5m, 15m and 1h on their boundaries);
the latency of a batch is the time from `submit` to its VoteBatch arriving on the event loop. In the same
run, the same indicators are recomputed with the batch functions over the whole candle window (what a
non-incremental engine does each close), and the incremental shard work is timed in-process, per close
and summed over each burst: the pool's overhead is its p99 above those (`p99_ms - incremental_p99_ms` counts
a burst's later timeframes waiting for its earlier ones as overhead, `p99_ms - incremental_burst_p99_ms`
does not).

    python benchmarks/sensors.py --symbols 50 [--closes 240] [--shards 0] [--executor pool|ray|inline]
    python benchmarks/sensors.py --tiny      # a few seconds, what the test suite runs

Prints machine information, then one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import emit, machine_info, parse_args, print_machine  # noqa: E402

from casino_tui.config import SensorsConfig  # noqa: E402
from casino_tui.model import TIMEFRAME_MS, TIMEFRAMES, Candle  # noqa: E402
from casino_tui.sensors import catalog as cat  # noqa: E402
from casino_tui.sensors import indicators as ind  # noqa: E402
from casino_tui.sensors.manager import SensorManager, default_shards  # noqa: E402
from casino_tui.sensors.shard import HISTORY_LEN, HistoryArrays, SensorShard  # noqa: E402
from casino_tui.sensors.votes import VoteBatch  # noqa: E402

STEP_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60}
FULL_RECOMPUTE_SAMPLES = 40  # boundaries per timeframe at most: a full recompute is slow by nature
TINY = {"symbols": 4, "closes": 15, "shards": 1}  # 15 minutes: every timeframe but 1h closes


def _series(steps: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(steps, 5, n) random-walk candles with trending and quiet stretches."""
    drift = np.repeat(rng.normal(0, 0.0008, (steps // 50 + 1, n)), 50, axis=0)[:steps]
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, 0.002, (steps, n)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.0015, (steps, n)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.0015, (steps, n)))
    return np.stack([open_, high, low, close, rng.uniform(1, 50, (steps, n))], axis=1)


def _candles(rows: np.ndarray, t: int, tf: str, symbols: list[str]) -> list[Candle]:
    ms = t * TIMEFRAME_MS[tf]
    return [Candle(sym, tf, ms, *map(float, rows[t, :, j])) for j, sym in enumerate(symbols)]


# The batch form of every indicator state the catalog uses, over (n_symbols, window) arrays.
def _batch_calls() -> dict[type, Callable[..., object]]:
    def close_only(fn):
        return lambda o, h, lo, c, v, **p: fn(c, **p)

    def hlc(fn):
        return lambda o, h, lo, c, v, **p: fn(h, lo, c, **p)

    def hlcv(fn):
        return lambda o, h, lo, c, v, **p: fn(h, lo, c, v, **p)

    return {
        ind.SmaState: close_only(ind.sma),
        ind.EmaState: close_only(ind.ema),
        ind.WmaState: close_only(ind.wma),
        ind.DemaState: close_only(ind.dema),
        ind.TemaState: close_only(ind.tema),
        ind.TrixState: close_only(ind.trix),
        ind.MacdState: close_only(ind.macd),
        ind.BbandsState: close_only(ind.bbands),
        ind.DpoState: close_only(ind.dpo),
        ind.LinregSlopeState: close_only(ind.linreg_slope),
        ind.RsiState: close_only(ind.rsi),
        ind.StochRsiState: close_only(ind.stochrsi),
        ind.RocState: close_only(ind.roc),
        ind.MomState: close_only(ind.mom),
        ind.StochState: hlc(ind.stoch),
        ind.CciState: hlc(ind.cci),
        ind.WillrState: hlc(ind.willr),
        ind.UltoscState: hlc(ind.ultosc),
        ind.AtrState: hlc(ind.atr),
        ind.AdxState: lambda o, h, lo, c, v, **p: (
            ind.adx(h, lo, c, **p), ind.plus_di(h, lo, c, **p), ind.minus_di(h, lo, c, **p)
        ),
        ind.SupertrendState: hlc(ind.supertrend),
        ind.KeltnerState: hlc(ind.keltner),
        ind.DonchianState: lambda o, h, lo, c, v, **p: ind.donchian(h, lo, **p),
        ind.IchimokuState: lambda o, h, lo, c, v, **p: ind.ichimoku(h, lo, **p),
        ind.AroonState: lambda o, h, lo, c, v, **p: ind.aroon(h, lo, **p),
        ind.SarState: lambda o, h, lo, c, v, **p: ind.sar(h, lo, **p),
        ind.MfiState: hlcv(ind.mfi),
        ind.VwapState: hlcv(ind.vwap),
        ind.CmfState: hlcv(ind.cmf),
        ind.ObvState: lambda o, h, lo, c, v: ind.obv(c, v),
        cat.ObvTrendState: lambda o, h, lo, c, v, period: ind.ema(ind.obv(c, v), period),
    }  # fmt: skip


def _distinct_indicators(timeframe: str) -> list[tuple[type, dict]]:
    seen: dict[tuple, tuple[type, dict]] = {}
    for spec in (*cat.sensors_of(cat.CATALOG, timeframe), cat.TREND_RULE):
        for _, cls, params in spec.indicators:
            seen.setdefault((cls, tuple(sorted(params.items()))), (cls, dict(params)))
    return list(seen.values())


def _percentiles(samples_ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples_ms, 50)), float(np.percentile(samples_ms, 99))


async def _executor_run(executor, symbols, rows, shards, closes) -> tuple[list[float], int]:
    history = {
        tf: {
            sym: [c for t in range(HISTORY_LEN) for c in _candles(rows[tf], t, tf, [sym])] for sym in symbols
        }
        for tf in TIMEFRAMES
    }
    sent: dict[tuple[str, int], float] = {}
    latencies: list[float] = []

    def on_votes(batch: VoteBatch) -> None:
        latencies.append((time.perf_counter() - sent.pop((batch.timeframe, batch.close_ms))) * 1000.0)

    manager = SensorManager(symbols, SensorsConfig(executor=executor, shards=shards), on_votes)
    await manager.start(history)
    try:
        for minute in range(1, closes + 1):
            burst = [
                (tf, HISTORY_LEN - 1 + minute // STEP_MINUTES[tf])
                for tf in TIMEFRAMES
                if minute % STEP_MINUTES[tf] == 0
            ]
            batches = [
                (tf, t, _candles(rows[tf], t, tf, symbols)) for tf, t in burst
            ]  # built before the clock starts
            for tf, t, candles in batches:
                sent[(tf, t * TIMEFRAME_MS[tf])] = time.perf_counter()
                manager.submit(tf, t * TIMEFRAME_MS[tf], candles)
            await manager.flush()
        return latencies, manager.shard_count
    finally:
        await manager.stop()


def _incremental_and_full(symbols, rows, closes) -> tuple[list[float], list[float], list[float]]:
    """Per boundary: the incremental shard work for all symbols in one process; the same summed over its
    burst up to that boundary (what a batch waits for with a zero-cost executor: a burst's timeframes run one
    after the other); and the full recompute of the same indicators over the window (sampled: at most
    FULL_RECOMPUTE_SAMPLES boundaries per timeframe)."""
    shard = SensorShard(symbols)
    ms = np.arange(HISTORY_LEN, dtype=np.int64)
    shard.warm_arrays({tf: HistoryArrays(ms * TIMEFRAME_MS[tf], rows[tf][:HISTORY_LEN]) for tf in TIMEFRAMES})
    calls = _batch_calls()
    present = np.ones(len(symbols), dtype=bool)
    incremental: list[float] = []
    burst: list[float] = []
    full: list[float] = []
    sampled = {tf: 0 for tf in TIMEFRAMES}
    for minute in range(1, closes + 1):
        spent = 0.0
        for tf in TIMEFRAMES:
            if minute % STEP_MINUTES[tf]:
                continue
            t = HISTORY_LEN - 1 + minute // STEP_MINUTES[tf]
            start = time.perf_counter()
            shard.on_close(tf, t * TIMEFRAME_MS[tf], rows[tf][t], present)
            incremental.append((time.perf_counter() - start) * 1000.0)
            spent += incremental[-1]
            burst.append(spent)
            if sampled[tf] < FULL_RECOMPUTE_SAMPLES:
                sampled[tf] += 1
                window = rows[tf][t + 1 - HISTORY_LEN : t + 1]  # (W, 5, n)
                o, h, lo, c, v = (np.ascontiguousarray(window[:, k, :].T) for k in range(5))
                start = time.perf_counter()
                for cls, params in _distinct_indicators(tf):
                    calls[cls](o, h, lo, c, v, **params)
                full.append((time.perf_counter() - start) * 1000.0)
    return incremental, burst, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--closes", type=int, default=240, help="simulated 1m boundaries (default 240)")
    parser.add_argument(
        "--shards", type=int, default=0, help="0 = the default: fitted to the symbols and cores"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--executor", choices=("pool", "ray", "inline"), default="pool")
    args = parse_args(parser, TINY)
    if min(args.symbols, args.closes) < 1 or args.shards < 0:
        parser.error("--symbols and --closes must be at least 1, --shards at least 0")

    info = machine_info()
    print_machine(info)

    rng = np.random.default_rng(args.seed)
    symbols = [f"SYM{i:03d}USDT" for i in range(args.symbols)]
    steps = HISTORY_LEN + args.closes + 1
    rows = {tf: _series(steps, args.symbols, rng) for tf in TIMEFRAMES}

    latencies, shards = asyncio.run(
        _executor_run(
            args.executor,
            symbols,
            rows,
            default_shards(SensorsConfig(shards=args.shards), args.symbols),
            args.closes,
        )
    )
    incremental, burst, full = _incremental_and_full(symbols, rows, args.closes)
    p50, p99 = _percentiles(latencies)
    inc50, inc99 = _percentiles(incremental)
    burst50, burst99 = _percentiles(burst)
    full50, full99 = _percentiles(full)
    print(f"batches: {len(latencies)}  shards: {shards}  sensors: {len(cat.CATALOG)}")
    print(f"{args.executor} submit->VoteBatch ms: p50 {p50:.2f}  p99 {p99:.2f}  max {max(latencies):.2f}")
    print(f"incremental in-process ms: p50 {inc50:.2f}  p99 {inc99:.2f}")
    print(f"  summed over each burst ms: p50 {burst50:.2f}  p99 {burst99:.2f}")
    print(f"pool overhead at p99 ms: {p99 - inc99:.2f} over one close, {p99 - burst99:.2f} over its burst")
    print(f"full recompute ms ({len(full)} boundaries): p50 {full50:.2f}  p99 {full99:.2f}")
    result = {
        "benchmark": "sensors",
        "executor": args.executor,
        "symbols": args.symbols,
        "sensors": len(cat.CATALOG),
        "shards": shards,
        "batches": len(latencies),
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "incremental_p99_ms": round(inc99, 3),
        "incremental_burst_p99_ms": round(burst99, 3),
        "full_recompute_p99_ms": round(full99, 3),
        "speedup_p99": round(full99 / p99, 1),
    }
    emit(result, info, args)


if __name__ == "__main__":
    main()
