"""Moving averages and what is built directly on them: SMA, EMA, WMA, DEMA, TEMA, TRIX, MACD, Bollinger
bands, DPO and the linear-regression slope, in batch and incremental form (TA-Lib conventions)."""

from __future__ import annotations

import numpy as np

from casino_tui.sensors.arrays import FloatArray
from casino_tui.sensors.indicators_core import (
    Ema,
    IndicatorState,
    Ring,
    RollingSum,
    Series,
    apply_windows,
    as_2d,
    check_period,
    drive,
    move_mean,
    pct_change,
    restore,
    shift,
    source_of,
    window_view,
)


def _wma_weights(period: int) -> FloatArray:
    # Oldest value weighs 1, newest weighs `period`; normalised by period·(period+1)/2.
    return np.arange(1, period + 1, dtype=np.float64) / (period * (period + 1) / 2.0)


def _slope_weights(period: int) -> FloatArray:
    # TA-Lib's LINEARREG_SLOPE with x = bars ago, folded into one weight per window position (oldest first).
    sum_x = period * (period - 1) * 0.5
    sum_x2 = period * (period - 1) * (2 * period - 1) / 6.0
    divisor = sum_x * sum_x - period * sum_x2
    ago = np.arange(period - 1, -1, -1, dtype=np.float64)
    return (period * ago - sum_x) / divisor


# ---------------------------------------------------------------------------------------------- batch


def sma(x: FloatArray, period: int) -> FloatArray:
    """Simple moving average; first value at index period-1."""
    period = check_period("period", period)
    (x2,), shape = as_2d(x)
    return restore(shape, move_mean(x2, period))


def ema(x: FloatArray, period: int) -> FloatArray:
    """TA-Lib EMA (seeded with the SMA of the first `period` values); first value at index period-1."""
    (x2,), shape = as_2d(x)
    (out,) = drive(EmaState(x2.shape[0], period), 1, c=x2)
    return restore(shape, out)


def wma(x: FloatArray, period: int) -> FloatArray:
    """Linearly weighted moving average; first value at index period-1."""
    period = check_period("period", period)
    (x2,), shape = as_2d(x)
    return restore(shape, apply_windows(x2, period, _wma_weights(period)))


def dema(x: FloatArray, period: int) -> FloatArray:
    """Double EMA, 2·EMA − EMA(EMA); first value at index 2·(period-1)."""
    (x2,), shape = as_2d(x)
    (out,) = drive(DemaState(x2.shape[0], period), 1, c=x2)
    return restore(shape, out)


def tema(x: FloatArray, period: int) -> FloatArray:
    """Triple EMA, 3·e1 − 3·e2 + e3; first value at index 3·(period-1)."""
    (x2,), shape = as_2d(x)
    (out,) = drive(TemaState(x2.shape[0], period), 1, c=x2)
    return restore(shape, out)


def trix(close: FloatArray, period: int = 15) -> FloatArray:
    """1-bar rate of change (×100) of the triple-smoothed EMA; first value at index 3·(period-1)+1."""
    (c2,), shape = as_2d(close)
    (out,) = drive(TrixState(c2.shape[0], period), 1, c=c2)
    return restore(shape, out)


def macd(
    close: FloatArray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(macd, signal, hist) as TA-Lib: the fast EMA starts where the slow one does, all three outputs begin
    at index slow-1+signal-1."""
    (c2,), shape = as_2d(close)
    line, sig, hist = drive(MacdState(c2.shape[0], fast, slow, signal), 3, c=c2)
    return restore(shape, line, sig, hist)


def bbands(
    close: FloatArray, period: int = 20, nbdev: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower) Bollinger bands: SMA ± nbdev · population std; first value at period-1."""
    period = check_period("period", period)
    (c2,), shape = as_2d(close)
    middle = move_mean(c2, period)
    # Two-pass std over each window: a running variance (bottleneck's, or TA-Lib's E[x²]−E[x]²) leaves a
    # residue whose square root shows up as a phantom band width on flat stretches after activity.
    std = np.full(c2.shape, np.nan)
    if c2.shape[-1] >= period:
        dev = window_view(c2, period) - middle[..., period - 1 :, None]
        std[..., period - 1 :] = np.sqrt(np.einsum("...ij,...ij->...i", dev, dev) / period)
    width = nbdev * std
    return restore(shape, middle + width, middle, middle - width)


def dpo(close: FloatArray, period: int = 20) -> FloatArray:
    """Detrended price oscillator: the close period//2+1 bars ago minus today's SMA(period) (StockCharts);
    first value at index max(period-1, period//2+1)."""
    period = check_period("period", period)
    (c2,), shape = as_2d(close)
    return restore(shape, shift(c2, period // 2 + 1) - move_mean(c2, period))


def linreg_slope(close: FloatArray, period: int = 14) -> FloatArray:
    """Slope per bar of the least-squares line through the last `period` values (TA-Lib LINEARREG_SLOPE);
    first value at index period-1."""
    period = check_period("period", period, 2)
    (c2,), shape = as_2d(close)
    return restore(shape, apply_windows(c2, period, _slope_weights(period)))


# ---------------------------------------------------------------------------------------------- incremental


class SmaState(IndicatorState):
    """Incremental SMA over a rolling sum."""

    def __init__(self, n_symbols: int, period: int, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period - 1
        self._src = source_of(source)
        self._sum = RollingSum(self.n, self.period)

    def _reset(self) -> None:
        self._sum.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        total = self._sum.push(self._src(open, high, low, close, volume))
        return self.nan() if self.warm <= self.lookback else total / self.period


class EmaState(IndicatorState):
    """Incremental TA-Lib EMA."""

    def __init__(self, n_symbols: int, period: int, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period - 1
        self._src = source_of(source)
        self._ema = Ema(self.n, self.period)

    def _reset(self) -> None:
        self._ema.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        value = self._ema.push(self._src(open, high, low, close, volume))
        return self.nan() if value is None else value


class WmaState(IndicatorState):
    """Incremental WMA: one weighted sum over the ring window."""

    def __init__(self, n_symbols: int, period: int, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period - 1
        self._src = source_of(source)
        self._ring = Ring(self.n, self.period)
        self._weights = _wma_weights(self.period)

    def _reset(self) -> None:
        self._ring.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        self._ring.push(self._src(open, high, low, close, volume))
        return self.nan() if self.warm <= self.lookback else self._weights @ self._ring.window()


class DemaState(IndicatorState):
    """Incremental DEMA: an EMA of the EMA, seeded as TA-Lib seeds it."""

    def __init__(self, n_symbols: int, period: int, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = 2 * (self.period - 1)
        self._src = source_of(source)
        self._e1 = Ema(self.n, self.period)
        self._e2 = Ema(self.n, self.period)

    def _reset(self) -> None:
        self._e1.reset()
        self._e2.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        v1 = self._e1.push(self._src(open, high, low, close, volume))
        v2 = None if v1 is None else self._e2.push(v1)
        if v1 is None or v2 is None:
            return self.nan()
        return 2.0 * v1 - v2


class TemaState(IndicatorState):
    """Incremental TEMA: three chained, individually seeded EMAs."""

    def __init__(self, n_symbols: int, period: int, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = 3 * (self.period - 1)
        self._src = source_of(source)
        self._e = [Ema(self.n, self.period) for _ in range(3)]

    def _reset(self) -> None:
        for e in self._e:
            e.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        e1, e2, e3 = self._e
        v1 = e1.push(self._src(open, high, low, close, volume))
        v2 = None if v1 is None else e2.push(v1)
        v3 = None if v2 is None else e3.push(v2)
        if v1 is None or v2 is None or v3 is None:
            return self.nan()
        return 3.0 * v1 - 3.0 * v2 + v3


class TrixState(IndicatorState):
    """Incremental TRIX: percent change of the triple EMA from one candle to the next."""

    def __init__(self, n_symbols: int, period: int = 15, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = 3 * (self.period - 1) + 1
        self._src = source_of(source)
        self._e = [Ema(self.n, self.period) for _ in range(3)]
        self._prev: FloatArray | None = None

    def _reset(self) -> None:
        for e in self._e:
            e.reset()
        self._prev = None

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        e1, e2, e3 = self._e
        v = e1.push(self._src(open, high, low, close, volume))
        v = None if v is None else e2.push(v)
        v = None if v is None else e3.push(v)
        prev, self._prev = self._prev, v
        # Once the triple EMA has a value it keeps one, so v is None only while prev is too.
        if prev is None or v is None:
            return self.nan()
        return pct_change(v, prev)


class MacdState(IndicatorState):
    """Incremental MACD returning (macd, signal, hist); the fast EMA is fed from bar slow-fast on, so its
    seed window ends where the slow EMA's does (TA-Lib)."""

    def __init__(
        self, n_symbols: int, fast: int = 12, slow: int = 26, signal: int = 9, source: str = "close"
    ) -> None:
        super().__init__(n_symbols)
        fast, slow = check_period("fast", fast), check_period("slow", slow)
        if slow < fast:  # TA-Lib swaps them
            fast, slow = slow, fast
        self.fast, self.slow, self.signal = fast, slow, check_period("signal", signal)
        self.lookback = self.slow - 1 + self.signal - 1
        self._src = source_of(source)
        self._fast = Ema(self.n, self.fast)
        self._slow = Ema(self.n, self.slow)
        self._sig = Ema(self.n, self.signal)

    def _reset(self) -> None:
        self._fast.reset()
        self._slow.reset()
        self._sig.reset()

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        self.warm += 1
        x = self._src(open, high, low, close, volume)
        s = self._slow.push(x)
        f = self._fast.push(x) if self.warm > self.slow - self.fast else None
        if s is None or f is None:  # the fast EMA is seeded on the bar the slow one is
            return self.nans(3)
        line = f - s
        sig = self._sig.push(line)
        if sig is None:
            return self.nans(3)
        return line, sig, line - sig


class BbandsState(IndicatorState):
    """Incremental Bollinger bands returning (upper, middle, lower); the std is a two-pass population std
    over the ring window (no E[x²]−E[x]² cancellation at high prices)."""

    def __init__(self, n_symbols: int, period: int = 20, nbdev: float = 2.0, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.nbdev = float(nbdev)
        self.lookback = self.period - 1
        self._src = source_of(source)
        self._sum = RollingSum(self.n, self.period)

    def _reset(self) -> None:
        self._sum.reset()

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        self.warm += 1
        total = self._sum.push(self._src(open, high, low, close, volume))
        if self.warm <= self.lookback:
            return self.nans(3)
        middle = total / self.period
        dev = self._sum.last(self.period) - middle
        width = self.nbdev * np.sqrt(np.einsum("ij,ij->j", dev, dev) / self.period)
        return middle + width, middle, middle - width


class DpoState(IndicatorState):
    """Incremental DPO: the close period//2+1 bars ago minus the current SMA."""

    def __init__(self, n_symbols: int, period: int = 20, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self._lag = self.period // 2 + 1
        self.lookback = max(self.period - 1, self._lag)
        self._src = source_of(source)
        # The sum's ring keeps period+1 values, enough to read the lagged close (lag <= period).
        self._sum = RollingSum(self.n, self.period)

    def _reset(self) -> None:
        self._sum.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        total = self._sum.push(self._src(open, high, low, close, volume))
        if self.warm <= self.lookback:
            return self.nan()
        return self._sum.ring.ago(self._lag) - total / self.period


class LinregSlopeState(IndicatorState):
    """Incremental linear-regression slope: one weighted sum over the ring window."""

    def __init__(self, n_symbols: int, period: int = 14, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period, 2)
        self.lookback = self.period - 1
        self._src = source_of(source)
        self._ring = Ring(self.n, self.period)
        self._weights = _slope_weights(self.period)

    def _reset(self) -> None:
        self._ring.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        self._ring.push(self._src(open, high, low, close, volume))
        return self.nan() if self.warm <= self.lookback else self._weights @ self._ring.window()


__all__ = [
    "BbandsState",
    "DemaState",
    "DpoState",
    "EmaState",
    "LinregSlopeState",
    "MacdState",
    "SmaState",
    "TemaState",
    "TrixState",
    "WmaState",
    "bbands",
    "dema",
    "dpo",
    "ema",
    "linreg_slope",
    "macd",
    "sma",
    "tema",
    "trix",
    "wma",
]
