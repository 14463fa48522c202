"""Ingest benchmark: Binance combined-stream frames -> decode -> Engine.on_trade -> CandleBook -> sensors.

Frames for 50 symbols are generated up front (seeded random walk, bursty arrivals) as raw JSON bytes, then
fed at full speed with a simulated 250 ms timer closing candles. As in the Runtime, everything runs on one
asyncio loop: closed candle batches go to a SensorManager (inline executor) from the engine's callback and
its VoteBatches come back on the loop. Prints machine info, then one JSON object on the last line:
ticks_per_s (the full path, sensor work included unless --no-sensors), decode_ticks_per_s,
engine_ticks_per_s (decoded trades -> Engine -> CandleBook, batches discarded) and vote_batches.

    .venv/bin/python benchmarks/ingest.py [--ticks 400000] [--symbols 50] [--minutes 60] [--repeat 3]
    .venv/bin/python benchmarks/ingest.py --tiny      # a second or two, what the test suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import emit, machine_info, parse_args, print_machine  # noqa: E402

from casino_tui.clock import ManualClock  # noqa: E402
from casino_tui.config import SensorsConfig  # noqa: E402
from casino_tui.engine.candles import CandleBook  # noqa: E402
from casino_tui.engine.engine import Engine  # noqa: E402
from casino_tui.engine.streams import StreamStats  # noqa: E402
from casino_tui.exchange.decode import decode_frame  # noqa: E402
from casino_tui.model import TIMEFRAMES, Candle, Trade  # noqa: E402
from casino_tui.sensors.manager import SensorManager  # noqa: E402
from casino_tui.sensors.votes import VoteBatch  # noqa: E402

START_MS = 1_767_225_600_000
TIMER_MS = 250
FLUSH_TIMEOUT_S = 60.0
TINY = {"ticks": 20_000, "symbols": 10, "minutes": 30, "repeat": 1}

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
    """Hands candle batches to a SensorManager with the inline executor, as the Runtime does: `submit` from the
    event loop (the engine's candle callback), VoteBatches delivered on the loop, `flush` awaited."""

    def __init__(self, symbols: list[str]) -> None:
        self.votes = 0
        self.manager = SensorManager(symbols, SensorsConfig(executor="inline", shards=1), self._on_votes)

    async def start(self) -> None:
        empty: dict[str, dict[str, list[Candle]]] = {tf: {} for tf in TIMEFRAMES}
        await self.manager.start(empty)

    def _on_votes(self, batch: VoteBatch) -> None:
        self.votes += 1

    def submit(self, timeframe: str, open_ms: int, candles: list[Candle]) -> None:
        self.manager.submit(timeframe, open_ms, candles)

    async def flush(self) -> None:
        """Wait until every submitted batch has been voted on; a sensor path that lost a batch fails here
        instead of hanging the benchmark."""
        try:
            await asyncio.wait_for(self.manager.flush(), FLUSH_TIMEOUT_S)
        except TimeoutError:
            raise SystemExit(
                f"sensor batches still pending after {FLUSH_TIMEOUT_S:g}s: the run is broken"
            ) from None

    async def stop(self) -> None:
        await self.manager.stop()


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


async def run_full(engine: Engine, frames: list[bytes], sensors: SensorSink | None) -> float:
    """Decode and ingest every frame with the 250 ms timer; after a timer step that closed candles, yield to
    the loop once (as the Runtime's timer task does) so the sensors' replies are handled in the timed run."""
    decode = decode_frame
    on_trade = engine.on_trade
    tick_timer = engine.tick_timer
    next_timer = START_MS + TIMER_MS
    batches = engine.batches
    t0 = time.perf_counter()
    for raw in frames:
        trade = decode(raw)
        if trade.ts_ms >= next_timer:
            tick_timer(next_timer)
            next_timer += TIMER_MS
            if engine.batches != batches:
                batches = engine.batches
                await asyncio.sleep(0)
        on_trade(trade)
    tick_timer(next_timer + 120_000)
    if sensors is not None:
        await sensors.flush()
    return time.perf_counter() - t0


async def measure(args: argparse.Namespace, symbols: list[str], frames: list[bytes]) -> dict[str, object]:
    trades = [decode_frame(raw) for raw in frames]
    gc.collect()
    gc.freeze()  # the pre-built frames are not garbage; keep the collector from rescanning them
    decode_s, engine_s, full_s = [], [], []
    engine: Engine | None = None
    sensors: SensorSink | None = None
    batches: list[tuple[str, int, int]] = []
    for _ in range(args.repeat):
        decode_s.append(run_decode(frames))
        engine_s.append(run_engine(new_engine(symbols, lambda *_: None), trades))
        batches.clear()
        if sensors is not None:
            await sensors.stop()
        sensors = None if args.no_sensors else SensorSink(symbols)  # every run replays the same market
        if sensors is not None:
            await sensors.start()

        def on_candles(
            tf: str, open_ms: int, candles: list[Candle], sink: SensorSink | None = sensors
        ) -> None:
            batches.append((tf, open_ms, len(candles)))
            if sink is not None:
                sink.submit(tf, open_ms, candles)

        engine = new_engine(symbols, on_candles)
        full_s.append(await run_full(engine, frames, sensors))
    assert engine is not None
    counters = engine.counters()
    votes = sensors.votes if sensors is not None else 0
    if sensors is not None:
        await sensors.stop()
    if counters.ticks != len(frames) or counters.errors or counters.consumer_errors:
        raise SystemExit(f"benchmark run was not clean: {counters}")
    if sensors is not None and votes != len(batches):
        raise SystemExit(f"{len(batches)} candle batches submitted but {votes} VoteBatches came back")
    n = len(frames)
    return {
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
        "vote_batches": votes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=400_000)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=60, help="simulated market time the ticks span")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-sensors", action="store_true", help="do not hand batches to a SensorManager")
    args = parse_args(parser, TINY)
    if min(args.ticks, args.symbols, args.minutes, args.repeat) < 1:
        parser.error("--ticks, --symbols, --minutes and --repeat must be at least 1")

    info = machine_info()
    print_machine(info)
    symbols = make_symbols(args.symbols)
    frames = make_frames(symbols, args.ticks, args.minutes, args.seed)
    print(f"{'frames':>15}: {len(frames)} ({sum(map(len, frames)) / len(frames):.0f} bytes avg)")
    print(f"{'sensors':>15}: {'off (--no-sensors)' if args.no_sensors else 'SensorManager, inline executor'}")
    emit(asyncio.run(measure(args, symbols, frames)), info, args)


if __name__ == "__main__":
    main()
