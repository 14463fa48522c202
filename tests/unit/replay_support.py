"""Replays for tests: klines files written from (open, high, low, close) bars, and a ReplayRuntime over them
with inline sensors and a player that never decides on its own (tests open brackets themselves)."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from casino_tui.backtest.runtime import ReplayRuntime
from casino_tui.config import Config, load_config
from casino_tui.exchange.replay.sources import ReplaySource, open_source
from casino_tui.paths import StatePaths
from casino_tui.replay import build_runtime
from tests.unit.binance_data_files import T0, kline_row, write_csv

MINUTE = 60_000
Bar = tuple[float, float, float, float]


def klines_file(
    directory: Path, symbol: str, bars: list[Bar], volume: str = "1000", *, minutes: int = 1
) -> Path:
    """A klines file of `bars` from T0, one every `minutes`, named as Binance names them."""
    span = minutes * MINUTE
    rows = [
        kline_row(T0 + i * span, str(o), str(h), str(lo), str(c), volume, span)
        for i, (o, h, lo, c) in enumerate(bars)
    ]
    return write_csv(directory / f"{symbol}-{minutes}m-2024-01.csv", rows)


def random_walk_bars(seed: int, count: int, start: float = 100.0) -> list[Bar]:
    """`count` 1m bars of a seeded random walk, prices to 2 decimals."""
    rng = random.Random(seed)
    bars: list[Bar] = []
    price = start
    for _ in range(count):
        close = round(price * (1 + rng.gauss(0, 0.004)), 2)
        high = round(max(price, close) * (1 + abs(rng.gauss(0, 0.002))), 2)
        low = round(min(price, close) * (1 - abs(rng.gauss(0, 0.002))), 2)
        bars.append((price, high, low, close))
        price = close
    return bars


def quiet_config(**sections: dict[str, object]) -> Config:
    """Inline sensors, no fees beyond the taker's, no slippage; the player decides only if told to."""
    overrides: dict[str, dict[str, object]] = {
        "sensors": {"executor": "inline"},
        "player": {"threshold": 0.99},
        "sim": {"slippage_bps": 0.0, "taker_fee": 0.0004},
        "trading": {"notional_usdt": 1000.0, "take_profit_pct": 0.02, "stop_loss_pct": 0.02},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_config(None, overrides, env={})


def trading_config() -> Config:
    """A player that trades often on a short replay: no 1h filter, a low threshold, no debounce."""
    return quiet_config(player={"threshold": 0.1, "debounce": 1, "cooldown_s": 60.0, "htf_filter": False})


def replay_runtime(
    files: list[Path],
    config: Config,
    state: Path,
    *,
    warmup: int = 2,
    tick: float | None = 0.01,
    speed: float | None = None,
) -> ReplayRuntime:
    """A ReplayRuntime over `files` (reports under `state`), built as `casino-tui replay` builds it."""
    source = open_source(files, tick_size=tick, step_size=0.001 if tick is not None else None)
    return runtime_over(source, config, state, warmup=warmup, speed=speed)


def runtime_over(
    source: ReplaySource, config: Config, state: Path, *, warmup: int = 2, speed: float | None = None
) -> ReplayRuntime:
    """A ReplayRuntime over an opened `source` (`speed`: None for max, else times real time)."""
    config.symbols = list(source.symbols)
    args = argparse.Namespace(speed=speed, warmup=warmup)
    return build_runtime(source, config, args, StatePaths(state).ensure(), None)
