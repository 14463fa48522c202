"""Building blocks shared by the indicator modules: shape handling, ring buffers, rolling sums, seeded EMA.

Every incremental state works on arrays of shape (n_symbols,): one numpy operation updates all symbols,
so an update costs the same few microseconds for 5 or 500 symbols. Arrays handed back to callers are never
mutated afterwards (state is replaced, not written in place), so a caller may keep what it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, overload

import bottleneck as bn
import numpy as np

from casino_tui.sensors.arrays import FloatArray, Output

NAN = float("nan")

Series = FloatArray | None  # one candle field for every symbol; None for a field the indicator ignores
Source = Callable[[Series, Series, Series, Series, Series], FloatArray]


def need(field: Series, name: str) -> FloatArray:
    """A candle field the indicator reads; a caller that left it out (None) gets a ValueError naming it."""
    if field is None:
        raise ValueError(f"this indicator reads the candle's {name}, and none was given")
    return field


# Single-series indicators read one of these from the candle (TA-Lib's price helpers for the composites).
SOURCES: dict[str, Source] = {
    "open": lambda o, h, lo, c, v: need(o, "open"),
    "high": lambda o, h, lo, c, v: need(h, "high"),
    "low": lambda o, h, lo, c, v: need(lo, "low"),
    "close": lambda o, h, lo, c, v: need(c, "close"),
    "volume": lambda o, h, lo, c, v: need(v, "volume"),
    "hl2": lambda o, h, lo, c, v: (need(h, "high") + need(lo, "low")) / 2.0,
    "hlc3": lambda o, h, lo, c, v: (need(h, "high") + need(lo, "low") + need(c, "close")) / 3.0,
    "ohlc4": lambda o, h, lo, c, v: (
        (need(o, "open") + need(h, "high") + need(lo, "low") + need(c, "close")) / 4.0
    ),
}


def source_of(name: str) -> Source:
    """The function that picks the named price series out of one candle's (open, high, low, close, volume)."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}") from None


def check_period(name: str, value: int, minimum: int = 1) -> int:
    """Validate an integer window length, so a bad catalog entry fails at construction, not mid-stream."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def as_2d(*arrays: FloatArray) -> tuple[list[FloatArray], tuple[int, ...]]:
    """Float64 views of equally shaped (T,) or (n, T) inputs as (n, T), plus the shape to restore."""
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    shape = out[0].shape
    if out[0].ndim not in (1, 2):
        raise ValueError(f"expected a (T,) or (n_symbols, T) array, got shape {shape}")
    for a in out[1:]:
        if a.shape != shape:
            raise ValueError(f"inputs differ in shape: {shape} vs {a.shape}")
    return [a.reshape(1, -1) if a.ndim == 1 else a for a in out], shape


@overload
def restore(shape: tuple[int, ...], a: FloatArray, /) -> FloatArray: ...
@overload
def restore(shape: tuple[int, ...], a: FloatArray, b: FloatArray, /) -> tuple[FloatArray, FloatArray]: ...
@overload
def restore(
    shape: tuple[int, ...], a: FloatArray, b: FloatArray, c: FloatArray, /
) -> tuple[FloatArray, FloatArray, FloatArray]: ...
@overload
def restore(
    shape: tuple[int, ...], a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray, /
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]: ...
def restore(shape: tuple[int, ...], *arrays: FloatArray) -> Output:
    """Reshape (n, T) results back to the caller's input shape; one array or a tuple of them."""
    res = tuple(a.reshape(shape) for a in arrays)
    return res[0] if len(res) == 1 else res


def drive(
    state: IndicatorState,
    n_out: int,
    *,
    o: FloatArray | None = None,
    h: FloatArray | None = None,
    lo: FloatArray | None = None,
    c: FloatArray | None = None,
    v: FloatArray | None = None,
) -> list[FloatArray]:
    """Run an incremental state over (n, T) inputs column by column: the batch form of a recursive indicator.

    Recursive indicators (EMA family, Wilder smoothing, SAR, Supertrend) are inherently sequential in time,
    so the batch form is the state fed candle by candle, vectorised across symbols.
    """
    given = next(a for a in (o, h, lo, c, v) if a is not None)
    n, steps = given.shape
    cols = [None if a is None else np.ascontiguousarray(a.T) for a in (o, h, lo, c, v)]
    oc, hc, lc, cc, vc = cols
    outs = [np.empty((steps, n)) for _ in range(n_out)]
    for t in range(steps):
        res = state.update(
            None if oc is None else oc[t],
            None if hc is None else hc[t],
            None if lc is None else lc[t],
            None if cc is None else cc[t],
            None if vc is None else vc[t],
        )
        if n_out == 1:
            outs[0][t] = res
        else:
            for k in range(n_out):
                outs[k][t] = res[k]
    return [o_.T for o_ in outs]


def ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """num / den, and 0 where den is exactly 0 (TA-Lib's convention for an empty range or no movement)."""
    # Dividing by +inf gives the 0 without a masked divide (about half the cost for (n_symbols,) arrays).
    return num / np.where(den == 0, np.inf, den)


def pct_change(x: FloatArray, prev: FloatArray) -> FloatArray:
    """(x / prev − 1)·100 as TA-Lib's ROC and TRIX compute it, and 0 where prev is 0."""
    change: FloatArray = (x / np.where(prev == 0, np.inf, prev) - 1.0) * 100.0 * (prev != 0)
    return change


def true_range(high: FloatArray, low: FloatArray, prev_close: FloatArray) -> FloatArray:
    """Wilder's true range: the bar's range extended to the previous close."""
    return np.maximum(high, prev_close) - np.minimum(low, prev_close)


def lead_nan(out: FloatArray, first: int) -> FloatArray:
    """Blank the columns before index `first` (the warm-up) in place and return the array."""
    out[..., : min(first, out.shape[-1])] = NAN
    return out


def window_view(x: FloatArray, size: int) -> FloatArray:
    """(n, T-size+1, size) view of every trailing window of an (n, T) array (no copy)."""
    return np.lib.stride_tricks.sliding_window_view(x, size, axis=-1)


def apply_windows(x: FloatArray, size: int, weights: FloatArray) -> FloatArray:
    """Dot product of every trailing window with `weights` (oldest first), NaN before the first window."""
    out = np.full(x.shape, NAN)
    if x.shape[-1] >= size:
        out[..., size - 1 :] = window_view(x, size) @ weights
    return out


def _moving(fn: Callable[..., FloatArray], x: FloatArray, size: int) -> FloatArray:
    # Bottleneck rejects a window longer than the series; such a series simply has no value yet.
    if x.shape[-1] < size:
        return np.full(x.shape, NAN)
    return fn(x, size, axis=-1)


def move_sum(x: FloatArray, size: int) -> FloatArray:
    """Trailing-window sum along the last axis, NaN until the window fills."""
    return _moving(bn.move_sum, x, size)


def move_mean(x: FloatArray, size: int) -> FloatArray:
    """Trailing-window mean along the last axis, NaN until the window fills."""
    return _moving(bn.move_mean, x, size)


def move_max(x: FloatArray, size: int) -> FloatArray:
    """Trailing-window maximum along the last axis, NaN until the window fills."""
    return _moving(bn.move_max, x, size)


def move_min(x: FloatArray, size: int) -> FloatArray:
    """Trailing-window minimum along the last axis, NaN until the window fills."""
    return _moving(bn.move_min, x, size)


def move_sum_exact(x: FloatArray, size: int) -> FloatArray:
    """Trailing-window sum that is exactly 0 over a window of zeros (a running sum leaves rounding residue)."""
    total = move_sum(x, size)
    nonzero = move_sum((x != 0).astype(np.float64), size)
    total[nonzero == 0] = 0.0
    return total


def shift(x: FloatArray, k: int) -> FloatArray:
    """x delayed by k columns, NaN-filled at the start."""
    out = np.full(x.shape, NAN)
    if k < x.shape[-1]:
        out[..., k:] = x[..., : x.shape[-1] - k]
    return out


class Ring:
    """Preallocated ring of the last `size` rows of (n_symbols,) values, readable in time order without copying.

    Each row is stored twice (at p and p + size) so any trailing window is the contiguous slice ending at
    p + size: windows feed numpy reductions and weighted sums directly. Rows never pushed read as 0.
    """

    __slots__ = ("buf", "size", "pos", "count")

    def __init__(self, n: int, size: int) -> None:
        self.buf = np.zeros((2 * size, n))
        self.size = size
        self.reset()

    def reset(self) -> None:
        self.buf.fill(0.0)
        self.pos = self.size - 1
        self.count = 0

    def push(self, x: FloatArray) -> None:
        p = self.pos + 1
        if p == self.size:
            p = 0
        self.pos = p
        self.buf[p] = x
        self.buf[p + self.size] = x
        self.count += 1

    def last(self, k: int) -> FloatArray:
        """(k, n) view of the k newest rows, oldest first (k <= size)."""
        end = self.pos + 1 + self.size
        return self.buf[end - k : end]

    def window(self) -> FloatArray:
        """(size, n) view of the whole ring, oldest first."""
        return self.last(self.size)

    def ago(self, k: int) -> FloatArray:
        """The row pushed k pushes ago (0 = newest), k < size; a view."""
        row: FloatArray = self.buf[self.pos + self.size - k]
        return row


class HighLowRing:
    """Ring of the last `size` highs and lows, stored side by side as [high, -low] so a single max reduction
    yields both the highest high and the lowest low (half the numpy calls of two rings)."""

    __slots__ = ("ring", "n")

    def __init__(self, n: int, size: int) -> None:
        self.n = n
        self.ring = Ring(2 * n, size)

    def reset(self) -> None:
        self.ring.reset()

    def push(self, high: FloatArray, low: FloatArray) -> None:
        self.ring.push(np.concatenate((high, -low)))

    def extremes(self, k: int) -> tuple[FloatArray, FloatArray]:
        """(highest high, lowest low) over the k newest bars."""
        both = self.ring.last(k).max(axis=0)
        return both[: self.n], -both[self.n :]


class RollingSum:
    """Sums over the last `size` values per symbol (or over several window lengths of the same series at once),
    O(1) per push, recomputed exactly once per lap so rounding drift never accumulates.

    `push` returns an (n,) sum for an int `size`, or a (len(size), n) stack for a tuple. With `exact_zero`, a
    window holding only zeros sums to exactly 0 (a run of zero pushes at least as long as the window clears
    the running residue, as TA-Lib's MFI does), so 0/0 rules still hold after a busy stretch scrolled out.
    """

    __slots__ = ("ring", "sizes", "single", "total", "zero_run", "exact_zero", "_ages", "_limits")

    def __init__(self, n: int, size: int | tuple[int, ...], exact_zero: bool = False) -> None:
        self.sizes: tuple[int, ...]
        if isinstance(size, int | np.integer):
            self.single, self.sizes = True, (int(size),)
        else:
            self.single, self.sizes = False, tuple(int(s) for s in size)
        # One spare row: the value leaving a window of length s is the one pushed s pushes ago.
        self.ring = Ring(n, max(self.sizes) + 1)
        self.exact_zero = exact_zero
        self._ages = np.array(self.sizes)
        self._limits = np.array(self.sizes, dtype=np.float64)[:, None]
        self.reset()

    def reset(self) -> None:
        self.ring.reset()
        n = self.ring.buf.shape[1]
        self.total = np.zeros(n) if self.single else np.zeros((len(self.sizes), n))
        self.zero_run = np.zeros(n)

    def last(self, k: int) -> FloatArray:
        """(k, n) view of the k newest values, oldest first."""
        return self.ring.last(k)

    def push(self, x: FloatArray) -> FloatArray:
        """Add x, drop what leaves each window, return the current sum(s) (fresh arrays)."""
        ring = self.ring
        ring.push(x)
        # Rows never pushed are 0, so before a window fills "the leaving value" is a harmless 0.
        total: FloatArray
        if self.single:
            size = self.sizes[0]
            if ring.pos == ring.size - 1:
                total = ring.last(size).sum(axis=0)
            else:
                total = self.total - ring.ago(size) + x
            if self.exact_zero:
                self.zero_run = (self.zero_run + 1.0) * (x == 0)
                total = total * (self.zero_run < size)
        else:
            if ring.pos == ring.size - 1:
                total = np.stack([ring.last(s).sum(axis=0) for s in self.sizes])
            else:
                total = self.total - ring.buf[ring.pos + ring.size - self._ages] + x
            if self.exact_zero:
                self.zero_run = (self.zero_run + 1.0) * (x == 0)
                total = total * (self.zero_run < self._limits)
        self.total = total
        return total


class Ema:
    """TA-Lib's EMA on (n,) arrays: seeded with the sequential mean of the first `period` values, then
    prev + k·(x − prev) with k = 2/(period+1). `push` returns the value, or None during the seeding."""

    __slots__ = ("period", "k", "count", "acc", "value")

    def __init__(self, n: int, period: int) -> None:
        self.period = period
        self.k = 2.0 / (period + 1)
        self.acc = np.zeros(n)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.acc = np.zeros_like(self.acc)
        self.value: FloatArray | None = None

    def push(self, x: FloatArray) -> FloatArray | None:
        self.count += 1
        if self.count < self.period:
            self.acc = self.acc + x
            return None
        prev = self.value
        if prev is None:  # the period-th value: the seed
            self.value = (self.acc + x) / self.period
        else:
            self.value = (x - prev) * self.k + prev
        return self.value


class IndicatorState:
    """Base of the incremental indicator states: `update` takes one candle close for every symbol.

    `warm` counts the updates seen; `lookback` is the index of the first non-NaN output (TA-Lib's lookback),
    so outputs are valid once `warm > lookback`.
    """

    lookback: int = 0

    def __init__(self, n_symbols: int) -> None:
        self.n = check_period("n_symbols", n_symbols, 0)  # an empty shard is legal
        self.warm = 0
        self._nan = np.full(self.n, NAN)

    @property
    def is_ready(self) -> bool:
        return self.warm > self.lookback

    def reset(self) -> None:
        """Forget all history, as if newly constructed."""
        self.warm = 0
        self._reset()

    def _reset(self) -> None:
        raise NotImplementedError

    def nan(self) -> FloatArray:
        return self._nan.copy()

    @overload
    def nans(self, k: Literal[2]) -> tuple[FloatArray, FloatArray]: ...
    @overload
    def nans(self, k: Literal[3]) -> tuple[FloatArray, FloatArray, FloatArray]: ...
    def nans(self, k: int) -> tuple[FloatArray, ...]:
        """k fresh NaN lines: the value of a multi-line indicator during its warm-up."""
        return tuple(self._nan.copy() for _ in range(k))

    def update(self, open: Series, high: Series, low: Series, close: Series, volume: Series) -> Output:
        """Fold in one candle close per symbol ((n_symbols,) float64 arrays) and return the current value(s)."""
        raise NotImplementedError
