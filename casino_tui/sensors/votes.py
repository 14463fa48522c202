"""What the SensorManager hands to the AdaptivePlayer: one batch of votes per closed timeframe boundary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class VoteBatch:
    """Votes of every sensor of one timeframe, for every symbol, at one candle close.

    Rows follow `symbols`; columns follow `sensors` (the catalog names of this timeframe's sensors, in
    catalog order). Rows of degraded symbols (their shard is restarting) hold zeros and `degraded` True.
    """

    timeframe: str
    close_ms: int  # open time of the candle that just closed
    symbols: tuple[str, ...]
    sensors: tuple[str, ...]
    votes: np.ndarray  # (n_symbols, n_sensors) int8 in {-1, 0, 1}
    strengths: np.ndarray  # (n_symbols, n_sensors) float32 in [0, 1]
    trend: np.ndarray  # (n_symbols,) int8: this timeframe's trend (-1, 0, 1), used as the HTF filter on 1h
    closes: np.ndarray  # (n_symbols,) float64: the closing prices (for the player's hit-rate tracking)
    degraded: np.ndarray  # (n_symbols,) bool


@dataclass(frozen=True, slots=True)
class ShardHealth:
    shard: int
    symbols: tuple[str, ...]
    is_alive: bool
    restarts: int
    last_latency_ms: float
    errors: int = 0
