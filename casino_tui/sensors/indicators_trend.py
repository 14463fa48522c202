"""Trend and volatility: ATR, ADX with ±DI, Aroon, Parabolic SAR and Supertrend, in batch and incremental
form. ATR/ADX/DI use Wilder smoothing with TA-Lib's seeding; SAR is TA-Lib's algorithm step for step."""

from __future__ import annotations

import numpy as np

from casino_tui.sensors.arrays import FloatArray
from casino_tui.sensors.indicators_core import (
    NAN,
    IndicatorState,
    Ring,
    Series,
    as_2d,
    check_period,
    drive,
    need,
    ratio,
    restore,
    true_range,
    window_view,
)

# ---------------------------------------------------------------------------------------------- batch


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """Average true range (Wilder, seeded with the mean of the first `period` true ranges, which start at
    bar 1); first value at index `period`."""
    (h, lo, c), shape = as_2d(high, low, close)
    (out,) = drive(AtrState(h.shape[0], period), 1, h=h, lo=lo, c=c)
    return restore(shape, out)


def _adx_outputs(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    # (adx, +DI, -DI) in the caller's shape: the three batch functions each keep one of them.
    (h, lo, c), shape = as_2d(high, low, close)
    out, plus, minus = drive(AdxState(h.shape[0], period), 3, h=h, lo=lo, c=c)
    return restore(shape, out, plus, minus)


def adx(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """Average directional index as TA-Lib; first value at index 2·period-1."""
    return _adx_outputs(high, low, close, period)[0]


def plus_di(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """+DI as TA-Lib (0 while the smoothed true range is 0); first value at index `period`."""
    return _adx_outputs(high, low, close, period)[1]


def minus_di(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 14) -> FloatArray:
    """-DI as TA-Lib; first value at index `period`."""
    return _adx_outputs(high, low, close, period)[2]


def aroon(high: FloatArray, low: FloatArray, period: int = 14) -> tuple[FloatArray, FloatArray]:
    """(down, up) as TA-Lib: 100·(period − bars since the extreme of the last period+1 bars), the most
    recent extreme winning ties; first value at index `period`."""
    period = check_period("period", period)
    (h, lo), shape = as_2d(high, low)
    down, up = np.full(h.shape, NAN), np.full(h.shape, NAN)
    if h.shape[-1] > period:
        factor = 100.0 / period
        # Reversed windows put the newest bar first, so argmax/argmin return the most recent extreme's age.
        up[..., period:] = factor * (period - window_view(h, period + 1)[..., ::-1].argmax(axis=-1))
        down[..., period:] = factor * (period - window_view(lo, period + 1)[..., ::-1].argmin(axis=-1))
    return restore(shape, down, up)


def sar(high: FloatArray, low: FloatArray, acceleration: float = 0.02, maximum: float = 0.2) -> FloatArray:
    """Parabolic SAR, TA-Lib's algorithm (direction from bar 1's -DM, extreme point from bar 0/1); first
    value at index 1."""
    (h, lo), shape = as_2d(high, low)
    (out,) = drive(SarState(h.shape[0], acceleration, maximum), 1, h=h, lo=lo)
    return restore(shape, out)


def supertrend(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int = 10, mult: float = 3.0
) -> tuple[FloatArray, FloatArray]:
    """(line, direction) with TradingView's band rules over TA-Lib's ATR; direction +1 (line = lower band,
    uptrend) or -1 (line = upper band), starting at -1 as TradingView does; first value at index `period`."""
    (h, lo, c), shape = as_2d(high, low, close)
    line, direction = drive(SupertrendState(h.shape[0], period, mult), 2, h=h, lo=lo, c=c)
    return restore(shape, line, direction)


# ---------------------------------------------------------------------------------------------- incremental


class AtrState(IndicatorState):
    """Incremental Wilder ATR."""

    def __init__(self, n_symbols: int, period: int = 14) -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period
        self._reset()

    def _reset(self) -> None:
        self._prev_close = self._nan
        self._atr = np.zeros(self.n)

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        high, low, close = need(high, "high"), need(low, "low"), need(close, "close")
        self.warm += 1
        prev_close, self._prev_close = self._prev_close, close.copy()
        if self.warm == 1:
            return self.nan()
        tr = true_range(high, low, prev_close)
        p = self.period
        if self.warm <= p + 1:
            self._atr = self._atr + tr
            if self.warm <= p:
                return self.nan()
            self._atr = self._atr / p
        else:
            self._atr = (self._atr * (p - 1) + tr) / p
        return self._atr


class AdxState(IndicatorState):
    """Incremental ADX returning (adx, plus_di, minus_di); the DIs start at index `period`, the ADX at
    2·period-1. The first smoothed DM/TR is a sum of period-1 bars, as in TA-Lib."""

    def __init__(self, n_symbols: int, period: int = 14) -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period, 2)
        self.lookback = 2 * self.period - 1
        self._moves = np.zeros((3, self.n))  # scratch: this bar's +DM, -DM and TR
        self._reset()

    def _reset(self) -> None:
        self._prev_high = self._prev_low = self._prev_close = self._nan
        self._smooth = np.zeros((3, self.n))  # Wilder sums of +DM, -DM and TR
        self._sum_dx = np.zeros(self.n)
        self._adx = self._nan

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        high, low, close = need(high, "high"), need(low, "low"), need(close, "close")
        self.warm += 1
        up = high - self._prev_high
        down = self._prev_low - low
        moves = self._moves
        # +DM when the up move wins and is positive, -DM when the down move wins and is positive.
        np.maximum(up, 0.0, out=moves[0])
        moves[0] *= up > down
        np.maximum(down, 0.0, out=moves[1])
        moves[1] *= down > up
        np.subtract(np.maximum(high, self._prev_close), np.minimum(low, self._prev_close), out=moves[2])
        self._prev_high, self._prev_low, self._prev_close = high.copy(), low.copy(), close.copy()
        if self.warm == 1:
            return self.nans(3)
        p = self.period
        if self.warm <= p:
            self._smooth = self._smooth + moves
            return self.nans(3)
        smooth = self._smooth = self._smooth - self._smooth / p + moves
        di = 100.0 * ratio(smooth[:2], smooth[2])
        pdi, mdi = di[0], di[1]
        di_sum = mdi + pdi
        dx = 100.0 * ratio(np.abs(mdi - pdi), di_sum)
        if self.warm <= 2 * p:
            # A bar without directional movement adds no DX (TA-Lib skips it), which is adding 0.
            self._sum_dx = self._sum_dx + dx
            if self.warm < 2 * p:
                return self.nan(), pdi, mdi
            self._adx = self._sum_dx / p
        else:
            self._adx = np.where(di_sum != 0, (self._adx * (p - 1) + dx) / p, self._adx)
        return self._adx, pdi, mdi


class AroonState(IndicatorState):
    """Incremental Aroon returning (down, up)."""

    def __init__(self, n_symbols: int, period: int = 14) -> None:
        super().__init__(n_symbols)
        self.period = check_period("period", period)
        self.lookback = self.period
        self._factor = 100.0 / self.period
        # [high, -low] side by side: one argmax finds the highest high and the lowest low.
        self._ring = Ring(2 * self.n, self.period + 1)

    def _reset(self) -> None:
        self._ring.reset()

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray]:
        high, low = need(high, "high"), need(low, "low")
        self.warm += 1
        self._ring.push(np.concatenate((high, -low)))
        if self.warm <= self.lookback:
            return self.nans(2)
        # Newest bar first, so argmax returns the most recent extreme's age (TA-Lib's tie rule).
        value = self._factor * (self.period - self._ring.window()[::-1].argmax(axis=0))
        return value[self.n :], value[: self.n]


class SarState(IndicatorState):
    """Incremental Parabolic SAR: TA-Lib's per-bar branches as masks over all symbols."""

    def __init__(self, n_symbols: int, acceleration: float = 0.02, maximum: float = 0.2) -> None:
        super().__init__(n_symbols)
        if not (acceleration >= 0 and maximum >= 0):
            raise ValueError(f"acceleration and maximum must be >= 0, got {acceleration!r}, {maximum!r}")
        self.acceleration = min(float(acceleration), float(maximum))  # TA-Lib caps the step at the maximum
        self.maximum = float(maximum)
        self.lookback = 1
        self._reset()

    def _reset(self) -> None:
        self._prev_high = self._prev_low = self._sar = self._ep = self._nan
        self._af = np.full(self.n, self.acceleration)
        self._long = np.ones(self.n, dtype=bool)

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> FloatArray:
        high, low = need(high, "high"), need(low, "low")
        self.warm += 1
        if self.warm == 1:
            self._prev_high, self._prev_low = high.copy(), low.copy()
            return self.nan()
        if self.warm == 2:
            # Start short when bar 1 has a -DM (its down move beats its up move), else long.
            down, up = self._prev_low - low, high - self._prev_high
            is_long = ~((down > 0) & (up < down))
            self._long = is_long
            self._ep = np.where(is_long, high, low)
            self._sar = np.where(is_long, self._prev_low, self._prev_high)
            prev_high, prev_low = high, low  # TA-Lib's "cheat": bar 1 is its own previous bar
        else:
            prev_high, prev_low = self._prev_high, self._prev_low
        self._prev_high, self._prev_low = high.copy(), low.copy()
        is_long, sar, ep, af = self._long, self._sar, self._ep, self._af
        top = np.maximum(prev_high, high)
        bottom = np.minimum(prev_low, low)
        to_short = is_long & (low <= sar)
        to_long = (high >= sar) > is_long  # penetrated and short (bool a > b is a and not b)
        switched = to_short | to_long
        # A reversal's SAR is the old extreme point, kept outside yesterday's and today's range.
        out = np.where(to_short, np.maximum(ep, top), np.where(to_long, np.minimum(ep, bottom), sar))
        now_long = is_long ^ switched
        # The bar's extreme in the (new) direction: a reversal restarts from it, a new extreme extends to it.
        candidate = np.where(now_long, high, low)
        extends = np.where(now_long, candidate > ep, candidate < ep)
        ep = np.where(switched | extends, candidate, ep)
        af = np.where(
            switched,
            self.acceleration,
            np.where(extends, np.minimum(af + self.acceleration, self.maximum), af),
        )
        nxt = out + af * (ep - out)
        self._sar = np.where(now_long, np.minimum(nxt, bottom), np.maximum(nxt, top))
        self._long, self._ep, self._af = now_long, ep, af
        return out


class SupertrendState(IndicatorState):
    """Incremental Supertrend returning (line, direction)."""

    def __init__(self, n_symbols: int, period: int = 10, mult: float = 3.0) -> None:
        super().__init__(n_symbols)
        self._atr = AtrState(n_symbols, period)
        self.period = self._atr.period
        self.mult = float(mult)
        self.lookback = self.period
        self._reset()

    def _reset(self) -> None:
        self._atr.reset()
        self._prev_close = self._upper = self._lower = self._nan
        self._direction = np.full(self.n, -1.0)
        self._is_up = np.zeros(self.n, dtype=bool)  # direction > 0, kept for the next bar

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray]:
        high, low, close = need(high, "high"), need(low, "low"), need(close, "close")
        self.warm += 1
        a = self._atr.update(open, high, low, close, volume)
        prev_close, self._prev_close = self._prev_close, close.copy()
        if self.warm <= self.lookback:
            return self.nans(2)
        mid = (high + low) / 2.0
        width = self.mult * a
        upper, lower = mid + width, mid - width
        if self.warm > self.lookback + 1:
            # A band only tightens, unless the previous close broke through it.
            lower = np.where((lower > self._lower) | (prev_close < self._lower), lower, self._lower)
            upper = np.where((upper < self._upper) | (prev_close > self._upper), upper, self._upper)
            self._direction = np.where(
                self._is_up, np.where(close < lower, -1.0, 1.0), np.where(close > upper, 1.0, -1.0)
            )
            self._is_up = self._direction > 0
        self._upper, self._lower = upper, lower
        return np.where(self._is_up, lower, upper), self._direction


__all__ = [
    "AdxState",
    "AroonState",
    "AtrState",
    "SarState",
    "SupertrendState",
    "adx",
    "aroon",
    "atr",
    "minus_di",
    "plus_di",
    "sar",
    "supertrend",
]
