"""Oscillators: RSI, Stochastic, StochRSI, CCI, Williams %R, ROC, momentum and the Ultimate Oscillator, in
batch and incremental form (TA-Lib conventions; a zero range or no movement gives 0, as TA-Lib does)."""

from __future__ import annotations

import numpy as np

from casino_tui.sensors.arrays import FloatArray
from casino_tui.sensors.indicators_core import (
    NAN,
    HighLowRing,
    IndicatorState,
    Ring,
    RollingSum,
    Series,
    as_2d,
    check_period,
    drive,
    lead_nan,
    move_max,
    move_mean,
    move_min,
    move_sum,
    move_sum_exact,
    need,
    pct_change,
    ratio,
    restore,
    shift,
    source_of,
    window_view,
)

# A CCI window whose mean deviation is below this fraction of its mean is flat: its deviation is rounding
# noise (TA-Lib's absolute zero test does the same job), and the CCI is 0.
FLAT_CCI = 1e-12


def _stoch_k(x: FloatArray, highest: FloatArray, lowest: FloatArray) -> FloatArray:
    # TA-Lib divides by (highest - lowest) / 100 rather than multiplying by 100 afterwards.
    return ratio(x - lowest, (highest - lowest) / 100.0)


def _cci(tp: FloatArray, mean: FloatArray, mean_dev: FloatArray) -> FloatArray:
    den = 0.015 * mean_dev * (mean_dev > FLAT_CCI * np.abs(mean))
    return ratio(tp - mean, den)


_ULTOSC_WEIGHTS = np.array([4.0, 2.0, 1.0]) * (100.0 / 7.0)
_GAIN_LOSS = np.array([[1.0], [-1.0]])  # a price change as (gain, loss) candidates


def _ultosc(bp: FloatArray, tr: FloatArray) -> FloatArray:
    # bp, tr: (3, ...) sums over the short, medium and long windows, weighted 4:2:1 and scaled to 0..100.
    r = ratio(bp, tr)
    return (_ULTOSC_WEIGHTS @ r.reshape(3, -1)).reshape(r.shape[1:])


# ---------------------------------------------------------------------------------------------- batch


def rsi(close: FloatArray, period: int = 14) -> FloatArray:
    """Wilder RSI as TA-Lib: first value at index `period`; 0 when the averages show no gain and no loss."""
    (c2,), shape = as_2d(close)
    (out,) = drive(RsiState(c2.shape[0], period), 1, c=c2)
    return restore(shape, out)


def stoch(
    high: FloatArray, low: FloatArray, close: FloatArray, fastk: int = 14, slowk: int = 3, slowd: int = 3
) -> tuple[FloatArray, FloatArray]:
    """(slowk, slowd) with SMA smoothing as TA-Lib; both begin at index fastk+slowk+slowd-3."""
    fastk, slowk, slowd = (
        check_period("fastk", fastk),
        check_period("slowk", slowk),
        check_period("slowd", slowd),
    )
    (h, lo, c), shape = as_2d(high, low, close)
    k = _stoch_k(c, move_max(h, fastk), move_min(lo, fastk))
    slow_k = move_mean(k, slowk)
    slow_d = move_mean(slow_k, slowd)
    return restore(shape, lead_nan(slow_k, fastk + slowk + slowd - 3), slow_d)


def stochrsi(
    close: FloatArray, period: int = 14, fastk: int = 5, fastd: int = 3
) -> tuple[FloatArray, FloatArray]:
    """(fastk, fastd): a fast stochastic of the RSI as TA-Lib; both begin at index period+fastk+fastd-2."""
    fastk, fastd = check_period("fastk", fastk), check_period("fastd", fastd)
    (c2,), shape = as_2d(close)
    (r,) = drive(RsiState(c2.shape[0], period), 1, c=c2)
    k = _stoch_k(r, move_max(r, fastk), move_min(r, fastk))
    d = move_mean(k, fastd)
    return restore(shape, lead_nan(k, period + fastk + fastd - 2), d)


def cci(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 20) -> FloatArray:
    """Commodity channel index over the typical price with the mean absolute deviation; first at period-1."""
    period = check_period("period", period)
    (h, lo, c), shape = as_2d(high, low, close)
    tp = (h + lo + c) / 3.0
    out = np.full(tp.shape, NAN)
    if tp.shape[-1] >= period:
        win = window_view(tp, period)
        mean = win.sum(axis=-1) / period
        mean_dev = np.abs(win - mean[..., None]).sum(axis=-1) / period
        out[..., period - 1 :] = _cci(tp[..., period - 1 :], mean, mean_dev)
    return restore(shape, out)


def willr(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """Williams %R in [-100, 0]; first value at index period-1."""
    period = check_period("period", period)
    (h, lo, c), shape = as_2d(high, low, close)
    hh, ll = move_max(h, period), move_min(lo, period)
    return restore(shape, ratio(hh - c, (hh - ll) / -100.0))


def roc(close: FloatArray, period: int = 10) -> FloatArray:
    """Rate of change in percent, (x / x[t-period] - 1)·100 (0 if the old value is 0); first at `period`."""
    period = check_period("period", period)
    (c2,), shape = as_2d(close)
    return restore(shape, pct_change(c2, shift(c2, period)))


def mom(close: FloatArray, period: int = 10) -> FloatArray:
    """Momentum, x - x[t-period]; first value at index `period`."""
    period = check_period("period", period)
    (c2,), shape = as_2d(close)
    return restore(shape, c2 - shift(c2, period))


def ultosc(
    high: FloatArray, low: FloatArray, close: FloatArray, p1: int = 7, p2: int = 14, p3: int = 28
) -> FloatArray:
    """Ultimate oscillator (buying pressure over true range, windows weighted 4:2:1); first at max period."""
    periods = sorted(check_period(name, p) for name, p in (("p1", p1), ("p2", p2), ("p3", p3)))
    (h, lo, c), shape = as_2d(high, low, close)
    out = np.full(c.shape, NAN)
    if c.shape[-1] > 1:
        prev_c = c[..., :-1]
        true_low = np.minimum(lo[..., 1:], prev_c)
        bp = c[..., 1:] - true_low
        tr = np.maximum(h[..., 1:], prev_c) - true_low
        sums_bp = np.stack([move_sum(bp, p) for p in periods])
        sums_tr = np.stack([move_sum_exact(tr, p) for p in periods])
        out[..., 1:] = _ultosc(sums_bp, sums_tr)
    return restore(shape, out)


# ---------------------------------------------------------------------------------------------- incremental


class RsiState(IndicatorState):
    """Incremental Wilder RSI: average gain and loss per symbol."""

    def __init__(self, n_symbols: int, period: int = 14, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period, 2)
        self.lookback = self.period
        self._src = source_of(source)
        self._reset()

    def _reset(self) -> None:
        self._prev = self._nan
        self._avg = np.zeros((2, self.n))  # average gain and average loss, one array for both

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        x = self._src(open, high, low, close, volume)
        self.warm += 1
        diff = x - self._prev
        self._prev = x.copy()
        if self.warm == 1:
            return self.nan()
        p = self.period
        # Gain and loss side by side: max(±diff, 0). TA-Lib adds a gain when diff >= 0 and subtracts diff
        # when diff < 0; the loss of a rise is +0.0 here, and the averages never hold -0.0, so the sums
        # match TA-Lib's bit for bit.
        moves = np.maximum(diff * _GAIN_LOSS, 0.0)
        if self.warm <= p + 1:
            self._avg = self._avg + moves
            if self.warm <= p:
                return self.nan()
            self._avg = self._avg / p
        else:
            self._avg = (self._avg * (p - 1) + moves) / p
        gain = self._avg[0]
        return 100.0 * ratio(gain, gain + self._avg[1])


class StochState(IndicatorState):
    """Incremental slow stochastic returning (slowk, slowd)."""

    def __init__(self, n_symbols: int, fastk: int = 14, slowk: int = 3, slowd: int = 3) -> None:
        super().__init__(n_symbols)
        self.fastk, self.slowk, self.slowd = (
            check_period("fastk", fastk),
            check_period("slowk", slowk),
            check_period("slowd", slowd),
        )
        self.lookback = self.fastk + self.slowk + self.slowd - 3
        self._range = HighLowRing(self.n, self.fastk)
        self._k_sum = RollingSum(self.n, self.slowk)
        self._d_sum = RollingSum(self.n, self.slowd)

    def _reset(self) -> None:
        for part in (self._range, self._k_sum, self._d_sum):
            part.reset()

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray]:
        high, low, close = need(high, "high"), need(low, "low"), need(close, "close")
        self.warm += 1
        self._range.push(high, low)
        if self.warm < self.fastk:
            return self.nans(2)
        k = _stoch_k(close, *self._range.extremes(self.fastk))
        slow_k = self._k_sum.push(k) / self.slowk
        if self.warm < self.fastk + self.slowk - 1:
            return self.nans(2)
        slow_d = self._d_sum.push(slow_k) / self.slowd
        if self.warm <= self.lookback:
            return self.nans(2)
        return slow_k, slow_d


class StochRsiState(IndicatorState):
    """Incremental StochRSI returning (fastk, fastd)."""

    def __init__(
        self, n_symbols: int, period: int = 14, fastk: int = 5, fastd: int = 3, source: str = "close"
    ) -> None:
        super().__init__(n_symbols)
        self._rsi = RsiState(n_symbols, period, source)
        self.period = self._rsi.period
        self.fastk, self.fastd = check_period("fastk", fastk), check_period("fastd", fastd)
        self.lookback = self.period + self.fastk + self.fastd - 2
        self._ring = Ring(self.n, self.fastk)
        self._d_sum = RollingSum(self.n, self.fastd)

    def _reset(self) -> None:
        self._rsi.reset()
        self._ring.reset()
        self._d_sum.reset()

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray]:
        self.warm += 1
        r = self._rsi.update(open, high, low, close, volume)
        if self.warm <= self.period:
            return self.nans(2)
        self._ring.push(r)
        if self.warm < self.period + self.fastk:
            return self.nans(2)
        win = self._ring.window()
        k = _stoch_k(r, win.max(axis=0), win.min(axis=0))
        d = self._d_sum.push(k) / self.fastd
        if self.warm <= self.lookback:
            return self.nans(2)
        return k, d


class CciState(IndicatorState):
    """Incremental CCI: rolling mean plus the mean absolute deviation over the ring window."""

    def __init__(self, n_symbols: int, period: int = 20) -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period - 1
        self._sum = RollingSum(self.n, self.period)

    def _reset(self) -> None:
        self._sum.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        high, low, close = need(high, "high"), need(low, "low"), need(close, "close")
        self.warm += 1
        tp = (high + low + close) / 3.0
        mean = self._sum.push(tp) / self.period
        if self.warm <= self.lookback:
            return self.nan()
        mean_dev = np.abs(self._sum.last(self.period) - mean).sum(axis=0) / self.period
        return _cci(tp, mean, mean_dev)


class WillrState(IndicatorState):
    """Incremental Williams %R."""

    def __init__(self, n_symbols: int, period: int = 14) -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period - 1
        self._range = HighLowRing(self.n, self.period)

    def _reset(self) -> None:
        self._range.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        high, low, close = need(high, "high"), need(low, "low"), need(close, "close")
        self.warm += 1
        self._range.push(high, low)
        if self.warm <= self.lookback:
            return self.nan()
        hh, ll = self._range.extremes(self.period)
        return ratio(hh - close, (hh - ll) / -100.0)


class RocState(IndicatorState):
    """Incremental rate of change in percent."""

    def __init__(self, n_symbols: int, period: int = 10, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period
        self._src = source_of(source)
        self._ring = Ring(self.n, self.period + 1)

    def _reset(self) -> None:
        self._ring.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        x = self._src(open, high, low, close, volume)
        self._ring.push(x)
        if self.warm <= self.lookback:
            return self.nan()
        return pct_change(x, self._ring.ago(self.period))


class MomState(IndicatorState):
    """Incremental momentum."""

    def __init__(self, n_symbols: int, period: int = 10, source: str = "close") -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period
        self._src = source_of(source)
        self._ring = Ring(self.n, self.period + 1)

    def _reset(self) -> None:
        self._ring.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        self.warm += 1
        x = self._src(open, high, low, close, volume)
        self._ring.push(x)
        return self.nan() if self.warm <= self.lookback else x - self._ring.ago(self.period)


class UltoscState(IndicatorState):
    """Incremental Ultimate Oscillator: three window sums of buying pressure and true range, one ring each."""

    def __init__(self, n_symbols: int, p1: int = 7, p2: int = 14, p3: int = 28) -> None:
        super().__init__(n_symbols)
        periods = tuple(sorted(check_period(name, p) for name, p in (("p1", p1), ("p2", p2), ("p3", p3))))
        self.periods = periods
        self.lookback = periods[-1]
        # Buying pressure and true range side by side in one set of sums; exact zeros matter for the true
        # range, whose 0 decides TA-Lib's "skip this window" rule.
        self._sums = RollingSum(2 * self.n, periods, exact_zero=True)
        self._prev_close = self._nan

    def _reset(self) -> None:
        self._sums.reset()
        self._prev_close = self._nan

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        high, low, close = need(high, "high"), need(low, "low"), need(close, "close")
        self.warm += 1
        prev_close, self._prev_close = self._prev_close, close.copy()
        if self.warm == 1:
            return self.nan()
        true_low = np.minimum(low, prev_close)
        sums = self._sums.push(np.concatenate((close - true_low, np.maximum(high, prev_close) - true_low)))
        if self.warm <= self.lookback:
            return self.nan()
        return _ultosc(sums[:, : self.n], sums[:, self.n :])


__all__ = [
    "CciState",
    "MomState",
    "RocState",
    "RsiState",
    "StochRsiState",
    "StochState",
    "UltoscState",
    "WillrState",
    "cci",
    "mom",
    "roc",
    "rsi",
    "stoch",
    "stochrsi",
    "ultosc",
    "willr",
]
