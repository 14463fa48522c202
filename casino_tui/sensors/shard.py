"""SensorShard: the worker-side state of one shard — indicator states, recent candles and the sensor rules
for a fixed list of symbols, one book per timeframe.

Candles travel as arrays in the shard's symbol order: `ohlcv` of shape (5, n) (open, high, low, close,
volume) with NaN for a symbol that has no candle in the batch. A missing symbol carries its last close
forward as a flat zero-volume candle, so every state array stays aligned with the symbol list. A symbol
never seen yet feeds a harmless placeholder and votes 0; when its first candle arrives, the book is rebuilt
from its ring of recent raw candles with that symbol's earlier rows back-filled flat at its first open —
the same rule `warm` applies to a history that starts late for some symbols.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
from typing import Any, NamedTuple

import numpy as np

from casino_tui.model import TIMEFRAMES, Candle
from casino_tui.sensors.catalog import CATALOG, TREND_RULE, SensorSpec, sensors_of
from casino_tui.sensors.rulebatch import RuleBatch
from casino_tui.sensors.rules import finish

HISTORY_LEN = 300  # candles kept per symbol and timeframe for a re-warm (covers the longest lookback x 3)
_NAN = float("nan")


class HistoryArrays(NamedTuple):
    """Candles of one timeframe aligned on a common time axis: open_ms (T,) and ohlcv (T, 5, n), NaN where a
    symbol has no candle."""

    open_ms: np.ndarray
    ohlcv: np.ndarray


class ShardReply(NamedTuple):
    """What a shard call returns across the process boundary: the method's result plus the rule errors
    seen since the previous call (count, and the first message of each sensor not reported before)."""

    result: Any
    errors: int
    new_errors: tuple[tuple[str, str], ...]


def align_history(
    history: Mapping[str, Mapping[str, Iterable[Candle]]], symbols: Sequence[str]
) -> dict[str, HistoryArrays]:
    """Turn {timeframe: {symbol: candles oldest first}} into arrays aligned on the union of their open
    times, in `symbols` order (symbols not listed are left out)."""
    out: dict[str, HistoryArrays] = {}
    column = {sym: j for j, sym in enumerate(symbols)}
    for tf, per_symbol in history.items():
        rows = {sym: list(candles) for sym, candles in per_symbol.items() if sym in column}
        open_ms = np.array(sorted({c.open_ms for candles in rows.values() for c in candles}), dtype=np.int64)
        ohlcv = np.full((len(open_ms), 5, len(symbols)), _NAN)
        for sym, candles in rows.items():
            if not candles:
                continue
            at = np.searchsorted(open_ms, [c.open_ms for c in candles])
            ohlcv[at, :, column[sym]] = [(c.open, c.high, c.low, c.close, c.volume) for c in candles]
        out[tf] = HistoryArrays(open_ms, ohlcv)
    return out


_OHLCV = operator.attrgetter("open", "high", "low", "close", "volume")
_SYMBOL = operator.attrgetter("symbol")


def boundary_arrays(candles: Sequence[Candle], column: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """One boundary's candles as `ohlcv` (5, n) and `present` (n,) in the symbol order `column` gives
    (symbol -> index of n); a symbol not in `column` is left out, one without a candle is NaN."""
    n = len(column)
    # fromiter of known length: np.array on a list of tuples first guesses the shape.
    at = np.fromiter(map(column.get, map(_SYMBOL, candles), repeat(-1)), np.intp, len(candles))
    values = np.fromiter(chain.from_iterable(map(_OHLCV, candles)), np.float64, 5 * len(candles))
    known = at >= 0
    ohlcv = np.full((5, n), _NAN)
    present = np.zeros(n, dtype=bool)
    ohlcv[:, at[known]] = values.reshape(-1, 5)[known].T
    present[at[known]] = True
    return ohlcv, present


class _Book:
    """One timeframe of a shard: distinct indicator states, their outputs now and one close before, the
    sensors reading them, and a ring of the last raw candles for rebuilds."""

    def __init__(self, n: int, specs: Sequence[SensorSpec], trend: SensorSpec, history_len: int) -> None:
        self.n = n
        self.states: list[Any] = []
        slot: dict[tuple[type, tuple[tuple[str, Any], ...]], int] = {}

        def index_of(spec: SensorSpec) -> dict[str, int]:
            index = {}
            for key, cls, params in spec.indicators:
                ident = (cls, tuple(sorted(params.items())))
                if ident not in slot:
                    slot[ident] = len(self.states)
                    self.states.append(cls(n, **params))
                index[key] = slot[ident]
            return index

        self.sensors = [(spec.name, spec.rule, index_of(spec)) for spec in specs]
        self.trend = (trend.name, trend.rule, index_of(trend))
        self.batch = RuleBatch(n, [*self.sensors, self.trend])
        self.generation = 0  # closes fed since construction (never reset: it tells one close from the next)
        self.ring = np.full((history_len, 5, n), _NAN)
        self.ring_ms = np.zeros(history_len, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        for state in self.states:
            state.reset()
        self.now: list[Any] = [None] * len(self.states)
        self.before: list[Any] = [None] * len(self.states)
        self.close = np.full(self.n, _NAN)
        self.prev_close = np.full(self.n, _NAN)
        self.seen = np.zeros(self.n, dtype=bool)
        self.ring.fill(_NAN)
        self.batch.forget()
        self.count = 0  # rows pushed since the last reset (the ring holds the newest min(count, len))

    def push(self, open_ms: int, raw: np.ndarray) -> None:
        at = self.count % len(self.ring)
        self.ring[at] = raw
        self.ring_ms[at] = open_ms
        self.count += 1

    def ring_rows(self) -> HistoryArrays:
        size = len(self.ring)
        if self.count <= size:
            return HistoryArrays(self.ring_ms[: self.count].copy(), self.ring[: self.count].copy())
        order = np.roll(np.arange(size), -(self.count % size))
        return HistoryArrays(self.ring_ms[order], self.ring[order])

    def advance(self, candle: np.ndarray, seen: np.ndarray) -> None:
        """Feed one gap-free (5, n) candle to every state; `seen` marks the symbols with real data."""
        o, h, lo, c, v = candle
        self.before = self.now
        self.now = [state.update(o, h, lo, c, v) for state in self.states]
        self.generation += 1
        self.prev_close = self.close
        self.close = np.where(seen, c, _NAN)
        self.seen = seen

    def replay(self, rows: HistoryArrays) -> None:
        """Reset and feed `rows` (raw, with gaps) oldest first, keeping the newest of them in the ring."""
        self.reset()
        filled, seen = _fill_history(rows.ohlcv)
        for t in range(len(rows.open_ms)):
            self.push(int(rows.open_ms[t]), rows.ohlcv[t])
            self.advance(filled[t], seen)


def _fill_history(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gap-free copy of (T, 5, n) raw candles and the (n,) mask of symbols with any candle: a gap takes the
    last close as a flat zero-volume candle, rows before a symbol's first candle take its first open, and a
    symbol never seen gets placeholder 1.0 candles (its votes are masked)."""
    steps, _, n = raw.shape
    present = np.isfinite(raw[:, 3, :])
    filled = raw.copy()
    if present.all():
        return filled, np.ones(n, dtype=bool)
    rows = np.arange(steps)[:, None]
    last = np.maximum.accumulate(np.where(present, rows, -1), axis=0)  # newest present row at or before t
    first = np.where(present.any(axis=0), present.argmax(axis=0), -1)
    cols = np.broadcast_to(np.arange(n), (steps, n))
    carried = raw[np.maximum(last, 0), 3, cols]
    backfill = raw[np.maximum(first, 0), 0, np.arange(n)]
    price = np.where(last >= 0, carried, np.where(first >= 0, backfill, 1.0))
    gap = ~present
    for k in range(4):
        filled[:, k, :] = np.where(gap, price, raw[:, k, :])
    filled[:, 4, :] = np.where(gap, 0.0, raw[:, 4, :])
    return filled, first >= 0


class SensorShard:
    """Indicator state and sensor rules for `symbols`, per timeframe; lives in a worker process (or inline).

    `on_close` returns (votes (n, k) int8, strengths (n, k) float32, trend (n,) int8) for the timeframe's k
    sensors in catalog order. A rule that raises votes 0 for that close; it is counted and its first message
    is reported once through `pop_errors`.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        catalog: Sequence[SensorSpec] | None = None,
        history_len: int = HISTORY_LEN,
    ) -> None:
        self.symbols = tuple(symbols)
        self.catalog = tuple(CATALOG if catalog is None else catalog)
        n = len(self.symbols)
        self._books = {
            tf: _Book(n, sensors_of(self.catalog, tf), TREND_RULE, history_len) for tf in TIMEFRAMES
        }
        self._errors = 0
        self._reported: set[str] = set()
        self._new_errors: list[tuple[str, str]] = []

    def sensor_names(self, timeframe: str) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self._books[timeframe].sensors)

    def warm(self, history: Mapping[str, Mapping[str, Iterable[Candle]]]) -> None:
        """Feed {timeframe: {symbol: candles oldest first}} through the states (no votes are computed)."""
        self.warm_arrays(align_history(history, self.symbols))

    def warm_arrays(self, history: Mapping[str, HistoryArrays]) -> None:
        """`warm` for history already aligned on this shard's symbol order (what crosses the process pipe)."""
        for tf, rows in history.items():
            self._books[tf].replay(HistoryArrays(np.asarray(rows.open_ms), np.asarray(rows.ohlcv)))

    def vote_now(self, timeframe: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Votes at the newest candle already fed (after warm-up), without advancing any state."""
        return self._vote(self._books[timeframe])

    def on_close(
        self, timeframe: str, close_ms: int, ohlcv: np.ndarray, present: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance `timeframe` by one closed candle per symbol and return its votes, strengths and trend."""
        book = self._books[timeframe]
        raw = np.where(present, ohlcv, _NAN)
        book.push(close_ms, raw)
        has = np.isfinite(raw[3])
        if (has & ~book.seen).any() and book.count > 1:
            # A symbol's first candle: rebuild this timeframe so it is back-filled like a late history.
            book.replay(book.ring_rows())
        elif has.all():
            book.advance(raw, has)
        else:
            candle = raw.copy()
            gap = ~has
            candle[:4, gap] = np.where(book.seen, book.close, 1.0)[gap]
            candle[4, gap] = 0.0
            book.advance(candle, book.seen | has)
        return self._vote(book)

    def _vote(self, book: _Book) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Raw (k + 1, n) rows, the trend last; the contract is applied once to the whole block.
        k = len(book.sensors)
        with np.errstate(all="ignore"):
            raw_votes, raw_strengths, valid = book.batch.evaluate(
                book.close, book.prev_close, book.now, book.before, book.generation, self._rule_failed
            )
            valid &= np.isfinite(book.close)  # a cold symbol (no candle yet) has a NaN close
            votes, strengths = finish(raw_votes, raw_strengths, valid)
        return votes[:k].T.copy(), strengths[:k].T.copy(), votes[k].copy()

    def _rule_failed(self, name: str, exc: Exception) -> None:
        self._errors += 1
        if name not in self._reported:
            self._reported.add(name)
            self._new_errors.append((name, f"{type(exc).__name__}: {exc}"))

    def pop_errors(self) -> tuple[int, tuple[tuple[str, str], ...]]:
        """Rule failures since the last call, and the first message of each sensor that newly failed."""
        count, new = self._errors, tuple(self._new_errors)
        self._errors = 0
        self._new_errors.clear()
        return count, new


def serve(shard: SensorShard, method: str, args: Sequence[Any]) -> ShardReply:
    """Run one shard call and attach the rule errors it produced: the one entry point every executor uses."""
    if method not in ("warm", "warm_arrays", "on_close", "vote_now", "sensor_names"):
        raise ValueError(f"not a shard call: {method!r}")
    result = getattr(shard, method)(*args)
    count, new = shard.pop_errors()
    return ShardReply(result, count, new)
