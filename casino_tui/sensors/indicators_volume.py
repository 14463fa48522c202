"""Volume-weighted indicators: MFI, OBV, rolling VWAP and Chaikin money flow, in batch and incremental form.

Window sums are exact-zero (a window with no volume or no money flow sums to exactly 0), so the 0/0
conventions below hold however busy the bars that scrolled out of the window were.
"""

from __future__ import annotations

import numpy as np

from casino_tui.sensors.arrays import FloatArray
from casino_tui.sensors.indicators_core import (
    NAN,
    IndicatorState,
    RollingSum,
    Series,
    as_2d,
    check_period,
    lead_nan,
    move_sum_exact,
    need,
    ratio,
    restore,
)


def _money_flow_multiplier(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    # Where in the bar's range the close sits, in [-1, 1]; 0 for a bar with no range.
    return ratio((close - low) - (high - close), high - low)


def _vwap(tpv: FloatArray, vol: FloatArray, tp_sum: FloatArray, period: int) -> FloatArray:
    # A window with no volume at all has no volume weighting: fall back to the plain mean typical price.
    return np.where(vol == 0, tp_sum / period, ratio(tpv, vol))


# ---------------------------------------------------------------------------------------------- batch


def mfi(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int = 14
) -> FloatArray:
    """Money flow index as TA-Lib: typical-price money flow split by the direction of the typical price
    (unchanged price: no flow), 0 for a window with no flow; first value at index `period`."""
    period = check_period("period", period)
    (h, lo, c, v), shape = as_2d(high, low, close, volume)
    tp = (h + lo + c) / 3.0
    out = np.full(tp.shape, NAN)
    if tp.shape[-1] > 1:
        move = tp[..., 1:] - tp[..., :-1]
        flow = tp[..., 1:] * v[..., 1:] * (move != 0)
        pos = move_sum_exact(flow * (move > 0), period)
        out[..., 1:] = 100.0 * ratio(pos, move_sum_exact(flow, period))
    return restore(shape, out)


def obv(close: FloatArray, volume: FloatArray) -> FloatArray:
    """On-balance volume as TA-Lib: starts at the first bar's volume, then ± each bar's volume by the
    direction of the close; defined from index 0."""
    (c, v), shape = as_2d(close, volume)
    signed = v.copy()
    signed[..., 1:] = v[..., 1:] * np.sign(c[..., 1:] - c[..., :-1])
    return restore(shape, np.cumsum(signed, axis=-1))


def vwap(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int = 20
) -> FloatArray:
    """Rolling VWAP of the typical price over `period` bars (the plain mean typical price for a window
    without volume); first value at index period-1."""
    period = check_period("period", period)
    (h, lo, c, v), shape = as_2d(high, low, close, volume)
    tp = (h + lo + c) / 3.0
    vol = move_sum_exact(v, period)
    out = _vwap(move_sum_exact(tp * v, period), vol, move_sum_exact(tp, period), period)
    return restore(shape, lead_nan(out, period - 1))


def cmf(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray, period: int = 20
) -> FloatArray:
    """Chaikin money flow: Σ(multiplier·volume) / Σ volume over `period` bars (0 without volume); first value
    at index period-1."""
    period = check_period("period", period)
    (h, lo, c, v), shape = as_2d(high, low, close, volume)
    flow = move_sum_exact(_money_flow_multiplier(h, lo, c) * v, period)
    return restore(shape, ratio(flow, move_sum_exact(v, period)))


# ---------------------------------------------------------------------------------------------- incremental


class MfiState(IndicatorState):
    """Incremental MFI: window sums of positive and of all money flow (exact zero for a window with none)."""

    def __init__(self, n_symbols: int, period: int = 14) -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period
        self._sums = RollingSum(2 * self.n, self.period, exact_zero=True)  # [positive flow, all flow]
        self._prev_tp = self._nan

    def _reset(self) -> None:
        self._sums.reset()
        self._prev_tp = self._nan

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        high, low = need(high, "high"), need(low, "low")
        close, volume = need(close, "close"), need(volume, "volume")
        self.warm += 1
        tp = (high + low + close) / 3.0
        move = tp - self._prev_tp
        self._prev_tp = tp
        if self.warm == 1:
            return self.nan()
        # An unchanged typical price carries no money flow in either direction.
        flow = tp * volume * (move != 0)
        sums = self._sums.push(np.concatenate((flow * (move > 0), flow)))
        return self.nan() if self.warm <= self.lookback else 100.0 * ratio(sums[: self.n], sums[self.n :])


class ObvState(IndicatorState):
    """Incremental on-balance volume."""

    def __init__(self, n_symbols: int) -> None:
        super().__init__(n_symbols)
        self.lookback = 0
        self._reset()

    def _reset(self) -> None:
        self._obv = self._nan
        self._prev_close = self._nan

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        close, volume = need(close, "close"), need(volume, "volume")
        self.warm += 1
        if self.warm == 1:
            self._obv = volume.copy()
        else:
            self._obv = self._obv + volume * np.sign(close - self._prev_close)
        self._prev_close = close.copy()
        return self._obv


class VwapState(IndicatorState):
    """Incremental rolling VWAP."""

    def __init__(self, n_symbols: int, period: int = 20) -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period - 1
        self._sums = RollingSum(3 * self.n, self.period, exact_zero=True)  # [tp·volume, volume, tp]

    def _reset(self) -> None:
        self._sums.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        high, low = need(high, "high"), need(low, "low")
        close, volume = need(close, "close"), need(volume, "volume")
        self.warm += 1
        tp = (high + low + close) / 3.0
        sums = self._sums.push(np.concatenate((tp * volume, volume, tp)))
        if self.warm <= self.lookback:
            return self.nan()
        n = self.n
        return _vwap(sums[:n], sums[n : 2 * n], sums[2 * n :], self.period)


class CmfState(IndicatorState):
    """Incremental Chaikin money flow."""

    def __init__(self, n_symbols: int, period: int = 20) -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period - 1
        self._sums = RollingSum(2 * self.n, self.period, exact_zero=True)  # [money flow volume, volume]

    def _reset(self) -> None:
        self._sums.reset()

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        high, low = need(high, "high"), need(low, "low")
        close, volume = need(close, "close"), need(volume, "volume")
        self.warm += 1
        sums = self._sums.push(np.concatenate((_money_flow_multiplier(high, low, close) * volume, volume)))
        return self.nan() if self.warm <= self.lookback else ratio(sums[: self.n], sums[self.n :])


__all__ = ["CmfState", "MfiState", "ObvState", "VwapState", "cmf", "mfi", "obv", "vwap"]
