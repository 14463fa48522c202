"""Sensor rules: what a sensor does with its indicator lines at one close.

A rule is a small picklable object called with a `RuleInput` (current and previous indicator outputs and
the close, one entry per symbol) that returns (votes, strengths) arrays of shape (n_symbols,); a strength
may overshoot 1, `evaluate` caps it. `evaluate` enforces the common contract on top of the rule: a NaN in
anything the rule read gives vote 0 and strength 0; votes are int8 in {-1, 0, 1}, strengths float32 in
[0, 1]. Oscillator zones are contrarian (oversold votes +1); trend, cross and breakout sensors follow the
move. The sensors themselves (which rule over which indicators) are listed in `catalog.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# A line a rule reads: an indicator key (single output), (key, output index), "close", or a constant.
Ref = str | tuple[str, int] | float
Output = np.ndarray | tuple[np.ndarray, ...]
Rule = Callable[["RuleInput"], tuple[np.ndarray, np.ndarray]]


class RuleInput:
    """What a rule sees at one close: indicator outputs now and one close before, and the close itself.

    Every line read is remembered, so `valid()` can tell which symbols had a NaN among the rule's inputs.
    `finite` is a cache of finite masks the shard shares between the sensors of one close.
    """

    __slots__ = ("close", "prev_close", "_now", "_before", "_index", "_finite", "_ok")

    def __init__(
        self,
        close: np.ndarray,
        prev_close: np.ndarray,
        now: Sequence[Output | None],
        before: Sequence[Output | None],
        index: Mapping[str, int],
        finite: dict[Any, np.ndarray] | None = None,
    ) -> None:
        self.close = close
        self.prev_close = prev_close
        self._now = now
        self._before = before
        self._index = index
        self._finite = {} if finite is None else finite
        self._ok: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        close: np.ndarray,
        prev_close: np.ndarray,
        now: Mapping[str, Output],
        before: Mapping[str, Output],
    ) -> RuleInput:
        """Build from plain {key: output} mappings (tests, tools)."""
        keys = list(now)
        return cls(
            close,
            prev_close,
            [now[k] for k in keys],
            [before.get(k) for k in keys],
            {k: i for i, k in enumerate(keys)},
        )

    def _read(self, ref: Ref, when: int) -> np.ndarray | float:
        if ref.__class__ is tuple:
            key, out = ref  # type: ignore[misc]
        elif ref.__class__ is str:
            if ref == "close":
                return self._track(self.close if when == 0 else self.prev_close, ("close", when))
            key, out = ref, None
        else:
            return float(ref)  # type: ignore[arg-type]
        i = self._index[key]
        value = (self._now if when == 0 else self._before)[i]
        if value is None:  # no previous close yet
            return self._track(np.full(self.close.shape, np.nan), None)
        return self._track(value if out is None else value[out], (i, out, when))

    def _track(self, arr: np.ndarray, cache_key: Any) -> np.ndarray:
        mask = self._finite.get(cache_key)
        if mask is None:
            mask = np.isfinite(arr)
            if cache_key is not None:
                self._finite[cache_key] = mask
        if self._ok is None:
            self._ok = mask
        elif mask is not self._ok:
            self._ok = self._ok & mask
        return arr

    def now(self, ref: Ref) -> Any:
        """The line's current value (an (n_symbols,) array, or the constant)."""
        return self._read(ref, 0)

    def before(self, ref: Ref) -> Any:
        """The line's value at the previous close."""
        return self._read(ref, 1)

    @property
    def read_mask(self) -> np.ndarray | None:
        """Symbols whose every line read so far is finite (None before any read)."""
        return self._ok

    def valid(self) -> np.ndarray:
        """Symbols whose close and every line read so far are finite."""
        close_ok = np.isfinite(self.close)
        return close_ok if self._ok is None else close_ok & self._ok


def _vote(up: np.ndarray, down: np.ndarray) -> np.ndarray:
    return np.subtract(up, down, dtype=np.float64)


def _strength(distance: np.ndarray, scale: float) -> np.ndarray:
    # A vote carries at least half strength; how far past its trigger (>= 0 where it votes) adds the rest,
    # reaching 1 at `scale`. `finish` caps it at 1, once for all sensors.
    return distance * (0.5 / scale) + 0.5


@dataclass(frozen=True, slots=True)
class Zone:
    """Contrarian oscillator zones: below `low` votes +1 (oversold), above `high` votes -1."""

    line: Ref
    low: float
    high: float
    scale: float

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        v = x.now(self.line)
        below, above = self.low - v, v - self.high
        return _vote(below > 0, above > 0), _strength(np.maximum(below, above), self.scale)


@dataclass(frozen=True, slots=True)
class Level:
    """Momentum level: above `mid + band` votes +1, below `mid - band` votes -1 (per unit of price with
    `per_price`)."""

    line: Ref
    mid: float
    band: float
    scale: float
    per_price: bool = False

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        v = x.now(self.line)
        if self.per_price:
            v = v / x.close
        up, down = v > self.mid + self.band, v < self.mid - self.band
        return _vote(up, down), _strength(np.abs(v - self.mid) - self.band, self.scale)


@dataclass(frozen=True, slots=True)
class Cross:
    """An event: `fast` crossing above `slow` votes +1, crossing below votes -1, otherwise 0. The spread must
    clear `gap` (in line units, or a fraction of the price with `per_price`), so float noise between two
    lines that have converged does not flap."""

    fast: Ref
    slow: Ref
    scale: float
    per_price: bool = True
    gap: float = 0.0

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        spread = x.now(self.fast) - x.now(self.slow)
        before = x.before(self.fast) - x.before(self.slow)
        if self.per_price:
            spread, before = spread / x.close, before / x.before("close")
        up = (before <= self.gap) & (spread > self.gap)
        down = (before >= -self.gap) & (spread < -self.gap)
        return _vote(up, down), _strength(np.abs(spread), self.scale)


@dataclass(frozen=True, slots=True)
class ZoneCross:
    """`fast` crossing `slow` upward from below `mid` votes +1, downward from above `mid` votes -1 (the
    spread must clear `gap`, as in Cross)."""

    fast: Ref
    slow: Ref
    mid: float
    gap: float = 1.0

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        pf = x.before(self.fast)
        spread, before = x.now(self.fast) - x.now(self.slow), pf - x.before(self.slow)
        up = (before <= self.gap) & (spread > self.gap) & (pf < self.mid)
        down = (before >= -self.gap) & (spread < -self.gap) & (pf > self.mid)
        return _vote(up, down), _strength(np.abs(pf - self.mid), self.mid)


@dataclass(frozen=True, slots=True)
class Above:
    """A state: `fast` above `slow` votes +1, below votes -1; strength from the gap relative to the price
    (norm "price") or to `slow` itself (norm "slow")."""

    fast: Ref
    slow: Ref
    scale: float
    norm: str = "price"

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        f, s = x.now(self.fast), x.now(self.slow)
        gap = np.abs(f - s) / (x.close if self.norm == "price" else np.abs(s))
        return _vote(f > s, f < s), _strength(gap, self.scale)


@dataclass(frozen=True, slots=True)
class SlopeSign:
    """Positive and rising votes +1, negative and falling votes -1 (MACD histogram, TRIX)."""

    line: Ref
    scale: float
    per_price: bool = False

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        v, p = x.now(self.line), x.before(self.line)
        size = np.abs(v) / (x.close if self.per_price else 1.0)
        return _vote((v > 0) & (v > p), (v < 0) & (v < p)), _strength(size, self.scale)


@dataclass(frozen=True, slots=True)
class PriceAndSlope:
    """Close above `level` while `slope` rises votes +1; below while it falls votes -1; mixed votes 0."""

    level: Ref
    slope: Ref
    scale: float

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        c, lv, sv, sp = x.close, x.now(self.level), x.now(self.slope), x.before(self.slope)
        up, down = (c > lv) & (sv > sp), (c < lv) & (sv < sp)
        return _vote(up, down), _strength(np.abs(c - lv) / c, self.scale)


@dataclass(frozen=True, slots=True)
class BandBreakout:
    """Close above the upper band votes +1, below the lower votes -1 (outputs 0 and 2 of `band`); with
    `previous`, against the previous close's bands (a channel that includes the current bar)."""

    band: str
    previous: bool = False
    scale: float = 0.25

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        read = x.before if self.previous else x.now
        c, upper, lower = x.close, read((self.band, 0)), read((self.band, 2))
        above, below = c - upper, lower - c
        return _vote(above > 0, below > 0), _strength(np.maximum(above, below) / (upper - lower), self.scale)


@dataclass(frozen=True, slots=True)
class BandReversion:
    """Previous close below the lower band and this close back inside votes +1; the mirror votes -1."""

    band: str
    scale: float = 0.25

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        c, pc = x.close, x.before("close")
        upper, lower = x.now((self.band, 0)), x.now((self.band, 2))
        p_upper, p_lower = x.before((self.band, 0)), x.before((self.band, 2))
        up, down = (pc < p_lower) & (c >= lower), (pc > p_upper) & (c <= upper)
        depth = np.maximum(p_lower - pc, pc - p_upper) / (p_upper - p_lower)
        return _vote(up, down), _strength(depth, self.scale)


@dataclass(frozen=True, slots=True)
class PercentB:
    """Bollinger %B below `low` votes +1, above `high` votes -1."""

    band: str
    low: float
    high: float

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        upper, lower = x.now((self.band, 0)), x.now((self.band, 2))
        pb = (x.close - lower) / (upper - lower)
        below, above = self.low - pb, pb - self.high
        return _vote(below > 0, above > 0), _strength(np.maximum(below, above), 0.25)


@dataclass(frozen=True, slots=True)
class DiTrend:
    """ADX at or above `min_adx`: +DI over -DI votes +1, -DI over +DI votes -1 (outputs adx, +DI, -DI)."""

    key: str
    min_adx: float

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        adx, pdi, mdi = x.now((self.key, 0)), x.now((self.key, 1)), x.now((self.key, 2))
        strong = adx >= self.min_adx
        return _vote(strong & (pdi > mdi), strong & (mdi > pdi)), _strength(adx - self.min_adx, 30.0)


@dataclass(frozen=True, slots=True)
class AroonTrend:
    """Aroon up at or above `strong` with down at or below `weak` votes +1; the mirror votes -1."""

    key: str
    strong: float = 70.0
    weak: float = 30.0

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        down, up = x.now((self.key, 0)), x.now((self.key, 1))
        bull = (up >= self.strong) & (down <= self.weak)
        bear = (down >= self.strong) & (up <= self.weak)
        return _vote(bull, bear), _strength(np.abs(up - down) - (self.strong - self.weak), 100.0)


@dataclass(frozen=True, slots=True)
class Cloud:
    """Close above both Ichimoku spans votes +1, below both votes -1, inside the cloud 0."""

    key: str
    scale: float = 0.01

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        c, a, b = x.close, x.now((self.key, 2)), x.now((self.key, 3))
        above, below = c - np.maximum(a, b), np.minimum(a, b) - c
        return _vote(above > 0, below > 0), _strength(np.maximum(above, below) / c, self.scale)


@dataclass(frozen=True, slots=True)
class Deviation:
    """Fade a stretch: close more than `k` ATRs below `line` votes +1, more than `k` above votes -1."""

    line: Ref
    atr: Ref
    k: float

    def __call__(self, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
        z = (x.close - x.now(self.line)) / x.now(self.atr)
        return _vote(z < -self.k, z > self.k), _strength(np.abs(z) - self.k, self.k)


def finish(votes: np.ndarray, strengths: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the contract to raw rule outputs of any shape: invalid → (0, 0), votes int8 in {-1, 0, 1},
    strengths float32 in [0, 1] and 0 where the vote is 0."""
    votes = np.sign(votes, where=valid, out=np.zeros(votes.shape)).astype(np.int8)
    strengths = np.where((votes != 0) & (strengths >= 0), strengths, 0.0)  # NaN compares False
    return votes, np.minimum(strengths, 1.0).astype(np.float32)


def evaluate(rule: Rule, x: RuleInput) -> tuple[np.ndarray, np.ndarray]:
    """Run `rule` under the contract of `finish`, NaN in anything the rule read making the symbol invalid."""
    votes, strengths = rule(x)
    return finish(np.asarray(votes, dtype=np.float64), np.asarray(strengths, dtype=np.float64), x.valid())
