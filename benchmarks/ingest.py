"""Ingest benchmark: Binance combined-stream frames -> decode -> Engine.on_trade -> CandleBook -> batches.

Frames for 50 symbols are generated up front (seeded random walk, bursty arrivals) as raw JSON bytes, then
fed at full speed with a simulated 250 ms timer closing candles. Prints machine info, then one JSON object
on the last line: ticks_per_s (full path, including sensor work when a SensorManager is available),
decode_ticks_per_s, engine_ticks_per_s (decoded trades -> Engine -> CandleBook, batches discarded), and
whether the SensorManager (inline executor) received the candle batches.

    .venv/bin/python benchmarks/ingest.py [--ticks 400000] [--symbols 50] [--minutes 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402

from casino_tui.config import SensorsConfig  # noqa: E402
from casino_tui.engine.candles import CandleBook  # noqa: E402
from casino_tui.engine.clock import ManualClock  # noqa: E402
from casino_tui.engine.engine import Engine  # noqa: E402
from casino_tui.engine.streams import StreamStats  # noqa: E402
from casino_tui.exchange.decode import decode_frame  # noqa: E402
from casino_tui.model import TIMEFRAMES, Candle, Trade  # noqa: E402

START_MS = 1_767_225_600_000
TIMER_MS = 250

OnCandles = Callable[[str, int, list[Candle]], None]


def make_symbols(n: int) -> list[str]:
    bases = ["BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "LINK", "AVAX", "DOT", "LTC", "TRX", "ATOM"]
    return [f"{bases[i % len(bases)]}{i // len(bases) or ''}USDT" for i in range(n)]


def make_frames(symbols: list[str], ticks: int, minutes: int, seed: int) -> list[bytes]:
    """Raw aggTrade frames in time order: a log random walk per symbol, heavier symbols trade more often."""
    rng = random.Random(seed)
    prices = [10 ** rng.uniform(-1, 5) for _ in symbols]
    decimals = [max(0, 6 - len(str(int(p)))) for p in prices]
    weights = [1.0 / (i + 1) ** 0.7 for i in range(len(symbols))]
    span_ms = minutes * 60_000
    step_ms = span_ms / ticks
    frames: list[bytes] = []
    ts = float(START_MS)
    for agg_id in range(ticks):
        ts += rng.expovariate(1.0 / step_ms)
        i = rng.choices(range(len(symbols)), weights)[0]
        prices[i] *= 1.0 + rng.gauss(0.0, 0.0008)
        sym = symbols[i]
        t = int(ts)
        p = f"{prices[i]:.{decimals[i]}f}"
        q = f"{rng.expovariate(1.0) * 100 / prices[i] + 0.001:.3f}"
        m = "true" if rng.random() < 0.5 else "false"
        frames.append(
            (
                f'{{"stream":"{sym.lower()}@aggTrade","data":{{"e":"aggTrade","E":{t + 3},"s":"{sym}",'
                f'"a":{agg_id},"p":"{p}","q":"{q}","nq":"{q}","f":{agg_id * 3},"l":{agg_id * 3 + 2},'
                f'"T":{t},"m":{m}}}}}'
            ).encode()
        )
    return frames


class SensorSink:
    """Hands candle batches to a SensorManager with the inline executor, if the sensors package has one.

    Follows the API the Runtime uses: SensorManager(symbols, SensorsConfig, on_votes), `await start(history)`,
    `submit(timeframe, open_ms, candles)`, `await flush()`. Anything missing leaves sensors out, with a note.
    """

    def __init__(self, symbols: list[str]) -> None:
        self.note = ""
        self.votes = 0
        self._loop = asyncio.new_event_loop()
        self._manager: Any = None
        try:
            from casino_tui.sensors.manager import SensorManager  # type: ignore[import-not-found]
        except Exception as exc:  # an absent or half-written module must not break the benchmark
            self.note = f"casino_tui.sensors.manager not importable: {type(exc).__name__}: {exc}"
            return
        try:
            manager = SensorManager(symbols, SensorsConfig(executor="inline", shards=1), self._on_votes)
            start = getattr(manager, "start", None)
            if start is not None:
                empty: dict[str, dict[str, list[Candle]]] = {
                    tf: {s: [] for s in symbols} for tf in TIMEFRAMES
                }
                result = start(empty)
                if inspect.isawaitable(result):
                    self._loop.run_until_complete(result)
            if not callable(getattr(manager, "submit", None)):
                raise TypeError("SensorManager has no submit(timeframe, open_ms, candles)")
        except Exception as exc:
            self.note = f"SensorManager unusable here: {type(exc).__name__}: {exc}"
            return
        self._manager = manager
        self.note = "SensorManager(inline executor).submit"

    @property
    def is_included(self) -> bool:
        return self._manager is not None

    def _on_votes(self, batch: Any) -> None:
        self.votes += 1

    def submit(self, timeframe: str, open_ms: int, candles: list[Candle]) -> None:
        result = self._manager.submit(timeframe, open_ms, candles)
        if inspect.isawaitable(result):
            self._loop.run_until_complete(result)

    def flush(self) -> None:
        """Wait for work the manager queued, so it is inside the timed run."""
        flush = getattr(self._manager, "flush", None)
        if flush is not None:
            result = flush()
            if inspect.isawaitable(result):
                self._loop.run_until_complete(result)


def run_decode(frames: list[bytes]) -> float:
    decode = decode_frame
    t0 = time.perf_counter()
    for raw in frames:
        decode(raw)
    return time.perf_counter() - t0


def new_engine(symbols: list[str], on_candles: OnCandles) -> Engine:
    clock = ManualClock(START_MS)
    book = CandleBook(symbols)
    stats = StreamStats(symbols, clock)
    return Engine(symbols, clock, book, stats, on_candles)


def run_engine(engine: Engine, trades: list[Trade]) -> float:
    on_trade = engine.on_trade
    tick_timer = engine.tick_timer
    next_timer = START_MS + TIMER_MS
    t0 = time.perf_counter()
    for trade in trades:
        if trade.ts_ms >= next_timer:
            tick_timer(next_timer)
            next_timer += TIMER_MS
        on_trade(trade)
    tick_timer(next_timer + 120_000)
    return time.perf_counter() - t0


def run_full(engine: Engine, frames: list[bytes]) -> float:
    decode = decode_frame
    on_trade = engine.on_trade
    tick_timer = engine.tick_timer
    next_timer = START_MS + TIMER_MS
    t0 = time.perf_counter()
    for raw in frames:
        trade = decode(raw)
        if trade.ts_ms >= next_timer:
            tick_timer(next_timer)
            next_timer += TIMER_MS
        on_trade(trade)
    tick_timer(next_timer + 120_000)
    return time.perf_counter() - t0


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "msgspec": msgspec.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=400_000)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=60, help="simulated market time the ticks span")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-sensors", action="store_true", help="do not hand batches to a SensorManager")
    args = parser.parse_args()

    info = machine_info()
    for key, value in info.items():
        print(f"{key:>15}: {value}")

    symbols = make_symbols(args.symbols)
    frames = make_frames(symbols, args.ticks, args.minutes, args.seed)
    trades = [decode_frame(raw) for raw in frames]
    print(f"{'frames':>15}: {len(frames)} ({sum(map(len, frames)) / len(frames):.0f} bytes avg)")

    def new_sensors() -> tuple[SensorSink | None, str]:
        if args.no_sensors:
            return None, "disabled by --no-sensors"
        sink = SensorSink(symbols)
        return (sink if sink.is_included else None), sink.note

    sensors, sensors_note = new_sensors()
    print(f"{'sensors':>15}: {sensors_note}")
    batches: list[tuple[str, int, int]] = []

    def on_candles(tf: str, open_ms: int, candles: list[Candle]) -> None:
        batches.append((tf, open_ms, len(candles)))
        if sensors is not None:
            sensors.submit(tf, open_ms, candles)

    gc.collect()
    gc.freeze()  # the pre-built frames are not garbage; keep the collector from rescanning them
    decode_s, engine_s, full_s = [], [], []
    engine: Engine | None = None
    for _ in range(args.repeat):
        decode_s.append(run_decode(frames))
        engine_s.append(run_engine(new_engine(symbols, lambda *_: None), trades))
        batches.clear()
        if sensors is not None:
            sensors, _ = new_sensors()  # fresh indicator state: every run replays the same market
        engine = new_engine(symbols, on_candles)
        t0 = time.perf_counter()
        run_full(engine, frames)
        if sensors is not None:
            sensors.flush()
        full_s.append(time.perf_counter() - t0)
    assert engine is not None
    counters = engine.counters()
    if counters.ticks != len(frames) or counters.errors or counters.consumer_errors:
        raise SystemExit(f"benchmark run was not clean: {counters}")

    n = len(frames)
    result = {
        "benchmark": "ingest",
        "symbols": len(symbols),
        "ticks": n,
        "sim_minutes": args.minutes,
        "repeat": args.repeat,
        "ticks_per_s": round(n / min(full_s)),
        "ticks_per_s_median": round(n / statistics.median(full_s)),
        "decode_ticks_per_s": round(n / min(decode_s)),
        "engine_ticks_per_s": round(n / min(engine_s)),
        "ns_per_tick": round(min(full_s) / n * 1e9),
        "batches": len(batches),
        "batches_1m": sum(1 for tf, _, _ in batches if tf == "1m"),
        "candles_closed": counters.candles_closed,
        "late": counters.late,
        "sensors_included": sensors is not None,
        "vote_batches": sensors.votes if sensors is not None else 0,
        "sensors_note": sensors_note,
        "python": info["python"],
        "cpu": info["cpu"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
