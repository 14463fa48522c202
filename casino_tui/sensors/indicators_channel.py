"""Price channels: Donchian, Keltner and Ichimoku lines, in batch and incremental form."""

from __future__ import annotations

from casino_tui.sensors.arrays import FloatArray
from casino_tui.sensors.indicators_average import EmaState
from casino_tui.sensors.indicators_core import (
    HighLowRing,
    IndicatorState,
    Series,
    as_2d,
    check_period,
    drive,
    move_max,
    move_min,
    need,
    restore,
)
from casino_tui.sensors.indicators_trend import AtrState


def _midpoint(high: FloatArray, low: FloatArray, period: int) -> FloatArray:
    # Midpoint of the highest high and lowest low of the last `period` bars (NaN before the window fills).
    return (move_max(high, period) + move_min(low, period)) / 2.0


# ---------------------------------------------------------------------------------------------- batch


def donchian(
    high: FloatArray, low: FloatArray, period: int = 20
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower): highest high, midpoint and lowest low of the last `period` bars, the current
    bar included; first value at index period-1."""
    period = check_period("period", period)
    (h, lo), shape = as_2d(high, low)
    upper, lower = move_max(h, period), move_min(lo, period)
    return restore(shape, upper, (upper + lower) / 2.0, lower)


def keltner(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    period: int = 20,
    atr_period: int = 10,
    mult: float = 2.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower): EMA(close, period) ± mult·ATR(atr_period); first value at index
    max(period-1, atr_period)."""
    (h, lo, c), shape = as_2d(high, low, close)
    upper, middle, lower = drive(KeltnerState(h.shape[0], period, atr_period, mult), 3, h=h, lo=lo, c=c)
    return restore(shape, upper, middle, lower)


def ichimoku(
    high: FloatArray, low: FloatArray, tenkan: int = 9, kijun: int = 26, senkou: int = 52
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(tenkan, kijun, span_a, span_b) computed at t (the spans are not shifted forward). Each line starts
    when its own window fills: tenkan-1, kijun-1, max(tenkan, kijun)-1 and senkou-1."""
    tenkan, kijun, senkou = (
        check_period(k, v) for k, v in (("tenkan", tenkan), ("kijun", kijun), ("senkou", senkou))
    )
    (h, lo), shape = as_2d(high, low)
    conv, base = _midpoint(h, lo, tenkan), _midpoint(h, lo, kijun)
    return restore(shape, conv, base, (conv + base) / 2.0, _midpoint(h, lo, senkou))


# ---------------------------------------------------------------------------------------------- incremental


class DonchianState(IndicatorState):
    """Incremental Donchian channel returning (upper, middle, lower)."""

    def __init__(self, n_symbols: int, period: int = 20) -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period - 1
        self._range = HighLowRing(self.n, self.period)

    def _reset(self) -> None:
        self._range.reset()

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        self.warm += 1
        self._range.push(need(high, "high"), need(low, "low"))
        if self.warm <= self.lookback:
            return self.nans(3)
        upper, lower = self._range.extremes(self.period)
        return upper, (upper + lower) / 2.0, lower


class KeltnerState(IndicatorState):
    """Incremental Keltner channel returning (upper, middle, lower)."""

    def __init__(self, n_symbols: int, period: int = 20, atr_period: int = 10, mult: float = 2.0) -> None:
        super().__init__(n_symbols)
        self._ema = EmaState(n_symbols, period)
        self._atr = AtrState(n_symbols, atr_period)
        self.period, self.atr_period, self.mult = self._ema.period, self._atr.period, float(mult)
        self.lookback = max(self._ema.lookback, self._atr.lookback)

    def _reset(self) -> None:
        self._ema.reset()
        self._atr.reset()

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        self.warm += 1
        middle = self._ema.update(open, high, low, close, volume)
        width = self.mult * self._atr.update(open, high, low, close, volume)
        if self.warm <= self.lookback:
            return self.nans(3)
        return middle + width, middle, middle - width


class IchimokuState(IndicatorState):
    """Incremental Ichimoku returning (tenkan, kijun, span_a, span_b) at t, one pair of rings for all lines."""

    def __init__(self, n_symbols: int, tenkan: int = 9, kijun: int = 26, senkou: int = 52) -> None:
        super().__init__(n_symbols)
        self.tenkan, self.kijun, self.senkou = (
            check_period(k, v) for k, v in (("tenkan", tenkan), ("kijun", kijun), ("senkou", senkou))
        )
        self.lookback = max(self.tenkan, self.kijun, self.senkou) - 1
        self._range = HighLowRing(self.n, self.lookback + 1)

    def _reset(self) -> None:
        self._range.reset()

    def _line(self, k: int) -> FloatArray:
        if self.warm < k:
            return self.nan()
        highest, lowest = self._range.extremes(k)
        return (highest + lowest) / 2.0

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        self.warm += 1
        self._range.push(need(high, "high"), need(low, "low"))
        conv, base = self._line(self.tenkan), self._line(self.kijun)
        return conv, base, (conv + base) / 2.0, self._line(self.senkou)


__all__ = ["DonchianState", "IchimokuState", "KeltnerState", "donchian", "ichimoku", "keltner"]
