"""AdaptivePlayer: turns sensor votes into decisions, and learns which sensors to trust.

Consensus per symbol is Σ wᵢ·voteᵢ·strengthᵢ / Σ wᵢ over every sensor that has voted, in [-1, 1]. A decision
needs |consensus| above the threshold on `debounce` consecutive closes of the decision timeframe, the 1h
trend on the same side (HTF filter), the symbol out of its cooldown, and a healthy shard. Each sensor's
weight follows its hit rate: its vote at a close against the return over the next `hit_horizon` closes.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from casino_tui.clock import Clock
from casino_tui.config import PlayerConfig
from casino_tui.model import TIMEFRAME_MS, Decision, Side
from casino_tui.sensors.votes import VoteBatch
from casino_tui.snapshot import ConsensusRow, SensorVoteRow

log = logging.getLogger("casino.player")

HTF_TIMEFRAME = "1h"
HIT_ALPHA = 0.02  # EWMA weight of one scored vote
MAX_STEP = 0.25  # one batch (many symbols) moves a hit rate at most this far towards its batch average
# weight = exp(GAIN·(hit_rate − ½)): a coin-flipper keeps 1.0, 75 % right → 3.0, 25 % right → 0.33.
WEIGHT_GAIN = 4.4
WEIGHTS_VERSION = 1


class _Snapshot(NamedTuple):
    """One batch remembered for scoring its votes `hit_horizon` closes later (player row/column order)."""

    close_ms: int
    rows: np.ndarray
    cols: np.ndarray
    votes: np.ndarray
    closes: np.ndarray
    valid: np.ndarray


class AdaptivePlayer:
    """Latest votes per (symbol, sensor), adaptive sensor weights, and the decision rules of DESIGN.md §5."""

    def __init__(
        self,
        symbols: Sequence[str],
        sensor_names: Sequence[str],
        sensor_timeframes: Sequence[str] | Mapping[str, str],
        config: PlayerConfig,
        clock: Clock,
    ) -> None:
        self.symbols = tuple(symbols)
        self.sensor_names = tuple(sensor_names)
        if isinstance(sensor_timeframes, Mapping):
            self.sensor_timeframes = tuple(sensor_timeframes[name] for name in self.sensor_names)
        else:
            self.sensor_timeframes = tuple(sensor_timeframes)
        if len(self.sensor_timeframes) != len(self.sensor_names):
            raise ValueError("sensor_timeframes must give one timeframe per sensor")
        self.config = config
        self.clock = clock
        n, m = len(self.symbols), len(self.sensor_names)
        self._symbol_index = {s: i for i, s in enumerate(self.symbols)}
        self._sensor_index = {s: j for j, s in enumerate(self.sensor_names)}
        self._votes = np.zeros((n, m), dtype=np.int8)
        self._strengths = np.zeros((n, m), dtype=np.float64)
        self._seen = np.zeros((n, m), dtype=bool)
        self._hit_rate = np.full(m, 0.5)
        self._samples = np.zeros(m, dtype=np.int64)
        self._weights = np.ones(m)
        self._apply_weight_bounds(np.arange(m))
        self._scores = np.zeros(n)
        self._htf = np.zeros(n, dtype=np.int8)
        self._degraded = np.zeros(n, dtype=bool)
        self._streak = np.zeros(n, dtype=np.int32)
        self._streak_sign = np.zeros(n, dtype=np.int8)
        self._last_decision_ms = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self._last_decisions: dict[str, Decision] = {}
        self._history: dict[str, deque[_Snapshot]] = {}
        self._row_maps: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._col_maps: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self.decisions_total = 0

    # -- input ------------------------------------------------------------------------------------------

    def on_votes(self, batch: VoteBatch) -> list[Decision]:
        """Take one timeframe's votes; on a decision-timeframe close, return the decisions it produces."""
        rows_b, rows_p = self._row_map(batch.symbols)
        cols_b, cols_p = self._col_map(batch.sensors)
        if rows_b.size == 0:
            return []
        block = np.ix_(rows_b, cols_b)
        # NaN-proof: a broken sensor value becomes a neutral vote of no strength, never a poisoned score.
        votes = np.sign(np.nan_to_num(np.asarray(batch.votes, dtype=np.float64)[block])).astype(np.int8)
        strengths = np.clip(np.nan_to_num(np.asarray(batch.strengths, dtype=np.float64)[block]), 0.0, 1.0)
        degraded = np.asarray(batch.degraded, dtype=bool)[rows_b]
        closes = np.asarray(batch.closes, dtype=np.float64)[rows_b]
        live = ~degraded

        self._learn(batch.timeframe, batch.close_ms, rows_p, cols_p, votes, closes, live)

        # Degraded rows keep their previous votes: a restarting shard reports zeros, not opinions.
        live_rows = rows_p[live]
        if cols_p.size and live_rows.size:
            self._votes[np.ix_(live_rows, cols_p)] = votes[live]
            self._strengths[np.ix_(live_rows, cols_p)] = strengths[live]
            self._seen[np.ix_(live_rows, cols_p)] = True
        self._degraded[rows_p] = degraded
        if batch.timeframe == HTF_TIMEFRAME:
            trend = np.sign(np.nan_to_num(np.asarray(batch.trend, dtype=np.float64)[rows_b])).astype(np.int8)
            self._htf[live_rows] = trend[live]
        self._recompute_scores()
        if batch.timeframe != self.config.decision_timeframe:
            return []
        return self._decide(batch, rows_p, live)

    def _decide(self, batch: VoteBatch, rows_p: np.ndarray, live: np.ndarray) -> list[Decision]:
        cfg = self.config
        # The candle's close instant: decisions and cooldowns run on exchange time, so replays match.
        ts = batch.close_ms + TIMEFRAME_MS.get(batch.timeframe, 0)
        cooldown_ms = int(cfg.cooldown_s * 1000)
        decisions: list[Decision] = []
        for k, p in enumerate(rows_p.tolist()):
            if not live[k]:
                self._streak[p] = 0
                self._streak_sign[p] = 0
                continue
            score = float(self._scores[p])
            sign = 1 if score >= cfg.threshold else -1 if score <= -cfg.threshold else 0
            if sign == 0:
                self._streak[p] = 0
                self._streak_sign[p] = 0
                continue
            self._streak[p] = self._streak[p] + 1 if self._streak_sign[p] == sign else 1
            self._streak_sign[p] = sign
            if self._streak[p] < cfg.debounce:
                continue
            if cfg.htf_filter and int(self._htf[p]) != sign:
                continue
            if ts - int(self._last_decision_ms[p]) < cooldown_ms:
                continue
            symbol = self.symbols[p]
            decision = Decision(
                symbol=symbol,
                side=Side.BUY if sign > 0 else Side.SELL,
                score=score,
                ts_ms=ts,
                reason=f"consensus {score:+.3f} on {int(self._streak[p])} closes, 1h trend {int(self._htf[p]):+d}",
            )
            self._last_decision_ms[p] = ts
            self._streak[p] = 0
            self._streak_sign[p] = 0
            self._last_decisions[symbol] = decision
            self.decisions_total += 1
            decisions.append(decision)
            log.info("%s %s", decision.side, decision.reason, extra={"symbol": symbol})
        return decisions

    # -- learning ---------------------------------------------------------------------------------------

    def _learn(
        self,
        timeframe: str,
        close_ms: int,
        rows_p: np.ndarray,
        cols_p: np.ndarray,
        votes: np.ndarray,
        closes: np.ndarray,
        live: np.ndarray,
    ) -> None:
        """Score the votes cast `hit_horizon` closes ago against the return since, and move the weights."""
        horizon = self.config.hit_horizon
        history = self._history.get(timeframe)
        if history is None or history.maxlen != horizon + 1:
            history = self._history[timeframe] = deque(maxlen=horizon + 1)
        with np.errstate(invalid="ignore"):
            valid = live & np.isfinite(closes) & (closes > 0)
        history.append(_Snapshot(close_ms, rows_p, cols_p, votes, closes, valid))
        if len(history) <= horizon:
            return
        old = history[0]
        if old.rows is not rows_p or old.cols is not cols_p or cols_p.size == 0:
            return  # the batch layout changed; these closes cannot be compared
        tf_ms = TIMEFRAME_MS.get(timeframe)
        if tf_ms is not None and close_ms - old.close_ms != horizon * tf_ms:
            return  # a gap (missed closes, restart): the horizon would be wrong
        ok = valid & old.valid
        with np.errstate(divide="ignore", invalid="ignore"):
            direction = np.sign(np.where(ok, closes - old.closes, 0.0))
        ok &= direction != 0  # no move, no verdict
        if not ok.any():
            return
        cast = old.votes[ok]
        counted = cast != 0  # a neutral vote predicts nothing
        hits = (cast == direction[ok][:, None]) & counted
        n = counted.sum(axis=0)
        scored = n > 0
        if not scored.any():
            return
        rate = hits.sum(axis=0)[scored] / n[scored]
        step = np.minimum(1.0 - (1.0 - HIT_ALPHA) ** n[scored], MAX_STEP)
        idx = cols_p[scored]
        self._hit_rate[idx] += step * (rate - self._hit_rate[idx])
        self._samples[idx] += n[scored]
        self._apply_weight_bounds(idx)

    def _apply_weight_bounds(self, idx: np.ndarray) -> None:
        raw = np.exp(WEIGHT_GAIN * (self._hit_rate[idx] - 0.5))
        self._weights[idx] = np.clip(raw, self.config.weight_min, self.config.weight_max)

    def _recompute_scores(self) -> None:
        weights = self._weights[None, :] * self._seen
        denom = weights.sum(axis=1)
        num = (weights * self._votes * self._strengths).sum(axis=1)
        scores = np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)
        self._scores = np.clip(np.nan_to_num(scores), -1.0, 1.0)

    # -- layout caches ----------------------------------------------------------------------------------

    def _row_map(self, symbols: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        cached = self._row_maps.get(symbols)
        if cached is None:
            pairs = [(k, self._symbol_index[s]) for k, s in enumerate(symbols) if s in self._symbol_index]
            cached = (
                np.array([k for k, _ in pairs], dtype=np.intp),
                np.array([p for _, p in pairs], dtype=np.intp),
            )
            self._row_maps[symbols] = cached
        return cached

    def _col_map(self, sensors: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        cached = self._col_maps.get(sensors)
        if cached is None:
            pairs = [(k, self._sensor_index[s]) for k, s in enumerate(sensors) if s in self._sensor_index]
            unknown = [s for s in sensors if s not in self._sensor_index]
            if unknown:
                log.warning("ignoring votes of unknown sensors: %s", ", ".join(unknown[:5]))
            cached = (
                np.array([k for k, _ in pairs], dtype=np.intp),
                np.array([j for _, j in pairs], dtype=np.intp),
            )
            self._col_maps[sensors] = cached
        return cached

    # -- persistence ------------------------------------------------------------------------------------

    def weights_state(self) -> dict[str, Any]:
        """Hit rates and sample counts per sensor, JSON-ready, for the state snapshot."""
        return {
            "version": WEIGHTS_VERSION,
            "saved_ms": self.clock.now_ms(),
            "sensors": {
                name: {
                    "hit_rate": float(self._hit_rate[j]),
                    "samples": int(self._samples[j]),
                    "weight": float(self._weights[j]),
                }
                for j, name in enumerate(self.sensor_names)
            },
        }

    def load_weights(self, state: Mapping[str, Any]) -> int:
        """Restore what `weights_state` saved; unknown sensors and bad values are skipped. Returns how many."""
        sensors = state.get("sensors") if isinstance(state, Mapping) else None
        if not isinstance(sensors, Mapping):
            return 0
        loaded = 0
        for name, entry in sensors.items():
            j = self._sensor_index.get(name)
            if j is None or not isinstance(entry, Mapping):
                continue
            rate = entry.get("hit_rate")
            if not isinstance(rate, int | float) or not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
                continue
            self._hit_rate[j] = float(rate)
            samples = entry.get("samples", 0)
            self._samples[j] = int(samples) if isinstance(samples, int) and samples >= 0 else 0
            loaded += 1
        # Weights are derived, so today's bounds apply even if the saved ones differed.
        self._apply_weight_bounds(np.arange(len(self.sensor_names)))
        self._recompute_scores()
        return loaded

    # -- read side --------------------------------------------------------------------------------------

    @property
    def weights(self) -> dict[str, float]:
        return {name: float(self._weights[j]) for j, name in enumerate(self.sensor_names)}

    @property
    def last_decisions(self) -> dict[str, Decision]:
        """The latest decision per symbol."""
        return dict(self._last_decisions)

    def score(self, symbol: str) -> float:
        return float(self._scores[self._symbol_index[symbol]])

    def rows(
        self, now_ms: int, shard_of: Callable[[str], int], is_degraded: Callable[[str], bool]
    ) -> tuple[ConsensusRow, ...]:
        """One Consensus-pane row per symbol."""
        seen = self._seen
        longs = ((self._votes > 0) & seen).sum(axis=1)
        shorts = ((self._votes < 0) & seen).sum(axis=1)
        neutrals = ((self._votes == 0) & seen).sum(axis=1)
        out = []
        for i, symbol in enumerate(self.symbols):
            decision = self._last_decisions.get(symbol)
            out.append(
                ConsensusRow(
                    symbol=symbol,
                    score=float(self._scores[i]),
                    longs=int(longs[i]),
                    shorts=int(shorts[i]),
                    neutrals=int(neutrals[i]),
                    htf_trend=int(self._htf[i]),
                    decision=("LONG" if decision.side is Side.BUY else "SHORT") if decision else "",
                    decision_age_s=max(0.0, (now_ms - decision.ts_ms) / 1000) if decision else None,
                    shard=shard_of(symbol),
                    is_degraded=bool(self._degraded[i]) or is_degraded(symbol),
                )
            )
        return tuple(out)

    def detail(self, symbol: str) -> tuple[SensorVoteRow, ...]:
        """Every sensor's latest vote on `symbol` with its current weight (empty for an unknown symbol)."""
        i = self._symbol_index.get(symbol)
        if i is None:
            return ()
        return tuple(
            SensorVoteRow(
                sensor=name,
                timeframe=self.sensor_timeframes[j],
                vote=int(self._votes[i, j]),
                strength=float(self._strengths[i, j]),
                weight=float(self._weights[j]),
            )
            for j, name in enumerate(self.sensor_names)
        )
