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

from casino_tui.sensors.arrays import BoolArray, FloatArray, Output, StrengthArray, VoteArray

# A line a rule reads: an indicator key (single output), (key, output index), "close", or a constant.
Ref = str | tuple[str, int] | float
Rule = Callable[["RuleInput"], tuple[FloatArray, FloatArray]]
# What `compute` works on: lines as (n,) arrays (one rule) or (m, n) blocks (a batch of rules), numbers as
# floats or (m, 1) columns, and a constant line as a float. The arithmetic is element-wise, so any mix
# broadcasts.
Operand = FloatArray | float


class RuleInput:
    """What a rule sees at one close: indicator outputs now and one close before, and the close itself.

    Every line read is remembered, so `valid()` can tell which symbols had a NaN among the rule's inputs.
    `finite` is a cache of finite masks the shard shares between the sensors of one close.
    """

    __slots__ = ("close", "prev_close", "_now", "_before", "_index", "_finite", "_ok")

    def __init__(
        self,
        close: FloatArray,
        prev_close: FloatArray,
        now: Sequence[Output | None],
        before: Sequence[Output | None],
        index: Mapping[str, int],
        finite: dict[Any, BoolArray] | None = None,
    ) -> None:
        self.close = close
        self.prev_close = prev_close
        self._now = now
        self._before = before
        self._index = index
        self._finite = {} if finite is None else finite
        self._ok: BoolArray | None = None

    @classmethod
    def of(
        cls,
        close: FloatArray,
        prev_close: FloatArray,
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

    def _read(self, ref: Ref, when: int) -> FloatArray | float:
        out: int | None
        if isinstance(ref, tuple):
            key, out = ref
        elif isinstance(ref, str):
            if ref == "close":
                return self._track(self.close if when == 0 else self.prev_close, ("close", when))
            key, out = ref, None
        else:
            return float(ref)
        i = self._index[key]
        value = (self._now if when == 0 else self._before)[i]
        if value is None:  # no previous close yet
            return self._track(np.full(self.close.shape, np.nan), None)
        return self._track(_line(key, value, out), (i, out, when))

    def _track(self, arr: FloatArray, cache_key: Any) -> FloatArray:
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

    def now(self, ref: Ref) -> FloatArray | float:
        """The line's current value (an (n_symbols,) array, or the constant)."""
        return self._read(ref, 0)

    def before(self, ref: Ref) -> FloatArray | float:
        """The line's value at the previous close."""
        return self._read(ref, 1)

    @property
    def read_mask(self) -> BoolArray | None:
        """Symbols whose every line read so far is finite (None before any read)."""
        return self._ok

    def valid(self) -> BoolArray:
        """Symbols whose close and every line read so far are finite."""
        close_ok = np.isfinite(self.close)
        return close_ok if self._ok is None else close_ok & self._ok


def _line(key: str, value: Output, out: int | None) -> FloatArray:
    # A bare key names a single-output indicator, (key, index) one output of a multi-output one.
    if isinstance(value, tuple):
        if out is None:
            raise TypeError(f"indicator {key!r} has {len(value)} outputs: read one as ({key!r}, index)")
        return value[out]
    if out is not None:
        raise TypeError(f"indicator {key!r} has a single output: read it as {key!r}")
    return value


def _vote(up: BoolArray | bool, down: BoolArray | bool) -> FloatArray:
    votes: FloatArray = np.subtract(up, down, dtype=np.float64)
    return votes


def _strength(distance: FloatArray, scale: float) -> FloatArray:
    # A vote carries at least half strength; how far past its trigger (>= 0 where it votes) adds the rest,
    # reaching 1 at `scale`. `finish` caps it at 1, once for all sensors.
    return distance * (0.5 / scale) + 0.5


# A line a rule reads and when: 0 at this close, 1 at the previous one.
Read = tuple[Ref, int]
_ONE: Read = (1.0, 0)  # the denominator of a rule whose scaling is off: dividing by 1.0 is exact


class DeclaredRule:
    """Base of the built-in rules: a rule declares the lines it reads (`lines`) and its numeric parameters
    (`numbers`); `compute` turns them into votes and the distance past the trigger, which `strength_scale`
    turns into a strength.

    Calling the rule reads the lines through a `RuleInput`. The shard instead evaluates all rules of one
    `kind` at once: it stacks their lines into (m, n) arrays and their numbers into (m, 1) columns and calls
    `compute` once (element-wise arithmetic, so each row equals the single call bit for bit).
    """

    __slots__ = ()

    def lines(self) -> tuple[Read, ...]:
        raise NotImplementedError

    def numbers(self) -> tuple[float, ...]:
        return ()

    def kind(self) -> object:
        """A hashable key: rules of equal kind share one `compute` (a flag that changes the arithmetic
        belongs in it)."""
        return type(self)

    def strength_scale(self) -> float:
        """The distance past the trigger at which the strength reaches 1."""
        raise NotImplementedError

    def compute(self, *args: Any) -> tuple[FloatArray, FloatArray]:
        """(votes, distance past the trigger) from the lines, then the numbers, in declaration order."""
        raise NotImplementedError

    def __call__(self, x: RuleInput) -> tuple[FloatArray, FloatArray]:
        arrays = [x.now(ref) if when == 0 else x.before(ref) for ref, when in self.lines()]
        votes, distance = self.compute(*arrays, *self.numbers())
        return votes, _strength(distance, self.strength_scale())


@dataclass(frozen=True, slots=True)
class Zone(DeclaredRule):
    """Contrarian oscillator zones: below `low` votes +1 (oversold), above `high` votes -1."""

    line: Ref
    low: float
    high: float
    scale: float

    def lines(self) -> tuple[Read, ...]:
        return ((self.line, 0),)

    def numbers(self) -> tuple[float, ...]:
        return (self.low, self.high)

    def strength_scale(self) -> float:
        return self.scale

    def compute(self, v: Operand, low: Operand, high: Operand) -> tuple[FloatArray, FloatArray]:
        below, above = low - v, v - high
        return _vote(below > 0, above > 0), np.maximum(below, above)


@dataclass(frozen=True, slots=True)
class Level(DeclaredRule):
    """Momentum level: above `mid + band` votes +1, below `mid - band` votes -1 (per unit of price with
    `per_price`)."""

    line: Ref
    mid: float
    band: float
    scale: float
    per_price: bool = False

    def lines(self) -> tuple[Read, ...]:
        return ((self.line, 0), ("close", 0) if self.per_price else _ONE)

    def numbers(self) -> tuple[float, ...]:
        return (self.mid, self.band)

    def strength_scale(self) -> float:
        return self.scale

    def compute(self, v: Operand, per: Operand, mid: Operand, band: Operand) -> tuple[FloatArray, FloatArray]:
        v = v / per
        up, down = v > mid + band, v < mid - band
        return _vote(up, down), np.abs(v - mid) - band


@dataclass(frozen=True, slots=True)
class Cross(DeclaredRule):
    """An event: `fast` crossing above `slow` votes +1, crossing below votes -1, otherwise 0. The spread must
    clear `gap` (in line units, or a fraction of the price with `per_price`), so float noise between two
    lines that have converged does not flap."""

    fast: Ref
    slow: Ref
    scale: float
    per_price: bool = True
    gap: float = 0.0

    def lines(self) -> tuple[Read, ...]:
        per = (("close", 0), ("close", 1)) if self.per_price else (_ONE, (1.0, 1))
        return ((self.fast, 0), (self.slow, 0), (self.fast, 1), (self.slow, 1), *per)

    def numbers(self) -> tuple[float, ...]:
        return (self.gap,)

    def strength_scale(self) -> float:
        return self.scale

    def compute(
        self, f: Operand, s: Operand, pf: Operand, ps: Operand, per: Operand, prev_per: Operand, gap: Operand
    ) -> tuple[FloatArray, FloatArray]:
        spread, before = (f - s) / per, (pf - ps) / prev_per
        up = (before <= gap) & (spread > gap)
        down = (before >= -gap) & (spread < -gap)
        return _vote(up, down), np.abs(spread)


@dataclass(frozen=True, slots=True)
class ZoneCross(DeclaredRule):
    """`fast` crossing `slow` upward from below `mid` votes +1, downward from above `mid` votes -1 (the
    spread must clear `gap`, as in Cross)."""

    fast: Ref
    slow: Ref
    mid: float
    gap: float = 1.0

    def lines(self) -> tuple[Read, ...]:
        return ((self.fast, 0), (self.slow, 0), (self.fast, 1), (self.slow, 1))

    def numbers(self) -> tuple[float, ...]:
        return (self.mid, self.gap)

    def strength_scale(self) -> float:
        return self.mid

    def compute(
        self, f: Operand, s: Operand, pf: Operand, ps: Operand, mid: Operand, gap: Operand
    ) -> tuple[FloatArray, FloatArray]:
        spread, before = f - s, pf - ps
        up = (before <= gap) & (spread > gap) & (pf < mid)
        down = (before >= -gap) & (spread < -gap) & (pf > mid)
        return _vote(up, down), np.abs(pf - mid)


@dataclass(frozen=True, slots=True)
class Above(DeclaredRule):
    """A state: `fast` above `slow` votes +1, below votes -1; strength from the gap relative to the price
    (norm "price") or to `slow` itself (norm "slow")."""

    fast: Ref
    slow: Ref
    scale: float
    norm: str = "price"

    def lines(self) -> tuple[Read, ...]:
        return ((self.fast, 0), (self.slow, 0), ("close", 0))

    def strength_scale(self) -> float:
        return self.scale

    def kind(self) -> object:
        return (Above, self.norm == "price")

    def compute(self, f: Operand, s: Operand, c: FloatArray) -> tuple[FloatArray, FloatArray]:
        gap = np.abs(f - s) / (c if self.norm == "price" else np.abs(s))
        return _vote(f > s, f < s), gap


@dataclass(frozen=True, slots=True)
class SlopeSign(DeclaredRule):
    """Positive and rising votes +1, negative and falling votes -1 (MACD histogram, TRIX)."""

    line: Ref
    scale: float
    per_price: bool = False

    def lines(self) -> tuple[Read, ...]:
        return ((self.line, 0), (self.line, 1), ("close", 0) if self.per_price else _ONE)

    def strength_scale(self) -> float:
        return self.scale

    def compute(self, v: Operand, p: Operand, per: Operand) -> tuple[FloatArray, FloatArray]:
        return _vote((v > 0) & (v > p), (v < 0) & (v < p)), np.abs(v) / per


@dataclass(frozen=True, slots=True)
class PriceAndSlope(DeclaredRule):
    """Close above `level` while `slope` rises votes +1; below while it falls votes -1; mixed votes 0."""

    level: Ref
    slope: Ref
    scale: float

    def lines(self) -> tuple[Read, ...]:
        return (("close", 0), (self.level, 0), (self.slope, 0), (self.slope, 1))

    def strength_scale(self) -> float:
        return self.scale

    def compute(self, c: FloatArray, lv: Operand, sv: Operand, sp: Operand) -> tuple[FloatArray, FloatArray]:
        up, down = (c > lv) & (sv > sp), (c < lv) & (sv < sp)
        return _vote(up, down), np.abs(c - lv) / c


@dataclass(frozen=True, slots=True)
class BandBreakout(DeclaredRule):
    """Close above the upper band votes +1, below the lower votes -1 (outputs 0 and 2 of `band`); with
    `previous`, against the previous close's bands (a channel that includes the current bar)."""

    band: str
    previous: bool = False
    scale: float = 0.25

    def lines(self) -> tuple[Read, ...]:
        when = 1 if self.previous else 0
        return (("close", 0), ((self.band, 0), when), ((self.band, 2), when))

    def strength_scale(self) -> float:
        return self.scale

    def compute(self, c: FloatArray, upper: FloatArray, lower: FloatArray) -> tuple[FloatArray, FloatArray]:
        above, below = c - upper, lower - c
        return _vote(above > 0, below > 0), np.maximum(above, below) / (upper - lower)


@dataclass(frozen=True, slots=True)
class BandReversion(DeclaredRule):
    """Previous close below the lower band and this close back inside votes +1; the mirror votes -1."""

    band: str
    scale: float = 0.25

    def lines(self) -> tuple[Read, ...]:
        upper, lower = (self.band, 0), (self.band, 2)
        return (("close", 0), ("close", 1), (upper, 0), (lower, 0), (upper, 1), (lower, 1))

    def strength_scale(self) -> float:
        return self.scale

    def compute(
        self,
        c: FloatArray,
        pc: FloatArray,
        upper: FloatArray,
        lower: FloatArray,
        p_upper: FloatArray,
        p_lower: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        up, down = (pc < p_lower) & (c >= lower), (pc > p_upper) & (c <= upper)
        depth = np.maximum(p_lower - pc, pc - p_upper) / (p_upper - p_lower)
        return _vote(up, down), depth


@dataclass(frozen=True, slots=True)
class PercentB(DeclaredRule):
    """Bollinger %B below `low` votes +1, above `high` votes -1."""

    band: str
    low: float
    high: float

    def lines(self) -> tuple[Read, ...]:
        return (("close", 0), ((self.band, 0), 0), ((self.band, 2), 0))

    def numbers(self) -> tuple[float, ...]:
        return (self.low, self.high)

    def strength_scale(self) -> float:
        return 0.25

    def compute(
        self, c: FloatArray, upper: FloatArray, lower: FloatArray, low: Operand, high: Operand
    ) -> tuple[FloatArray, FloatArray]:
        pb = (c - lower) / (upper - lower)
        below, above = low - pb, pb - high
        return _vote(below > 0, above > 0), np.maximum(below, above)


@dataclass(frozen=True, slots=True)
class DiTrend(DeclaredRule):
    """ADX at or above `min_adx`: +DI over -DI votes +1, -DI over +DI votes -1 (outputs adx, +DI, -DI)."""

    key: str
    min_adx: float

    def lines(self) -> tuple[Read, ...]:
        return (((self.key, 0), 0), ((self.key, 1), 0), ((self.key, 2), 0))

    def numbers(self) -> tuple[float, ...]:
        return (self.min_adx,)

    def strength_scale(self) -> float:
        return 30.0

    def compute(
        self, adx: FloatArray, pdi: FloatArray, mdi: FloatArray, min_adx: Operand
    ) -> tuple[FloatArray, FloatArray]:
        strong = adx >= min_adx
        return _vote(strong & (pdi > mdi), strong & (mdi > pdi)), adx - min_adx


@dataclass(frozen=True, slots=True)
class AroonTrend(DeclaredRule):
    """Aroon up at or above `strong` with down at or below `weak` votes +1; the mirror votes -1."""

    key: str
    strong: float = 70.0
    weak: float = 30.0

    def lines(self) -> tuple[Read, ...]:
        return (((self.key, 0), 0), ((self.key, 1), 0))

    def numbers(self) -> tuple[float, ...]:
        return (self.strong, self.weak)

    def strength_scale(self) -> float:
        return 100.0

    def compute(
        self, down: FloatArray, up: FloatArray, strong: Operand, weak: Operand
    ) -> tuple[FloatArray, FloatArray]:
        bull = (up >= strong) & (down <= weak)
        bear = (down >= strong) & (up <= weak)
        return _vote(bull, bear), np.abs(up - down) - (strong - weak)


@dataclass(frozen=True, slots=True)
class Cloud(DeclaredRule):
    """Close above both Ichimoku spans votes +1, below both votes -1, inside the cloud 0."""

    key: str
    scale: float = 0.01

    def lines(self) -> tuple[Read, ...]:
        return (("close", 0), ((self.key, 2), 0), ((self.key, 3), 0))

    def strength_scale(self) -> float:
        return self.scale

    def compute(self, c: FloatArray, a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
        above, below = c - np.maximum(a, b), np.minimum(a, b) - c
        return _vote(above > 0, below > 0), np.maximum(above, below) / c


@dataclass(frozen=True, slots=True)
class Deviation(DeclaredRule):
    """Fade a stretch: close more than `k` ATRs below `line` votes +1, more than `k` above votes -1."""

    line: Ref
    atr: Ref
    k: float

    def lines(self) -> tuple[Read, ...]:
        return (("close", 0), (self.line, 0), (self.atr, 0))

    def numbers(self) -> tuple[float, ...]:
        return (self.k,)

    def strength_scale(self) -> float:
        return self.k

    def compute(
        self, c: FloatArray, level: Operand, atr: Operand, k: Operand
    ) -> tuple[FloatArray, FloatArray]:
        z = (c - level) / atr
        return _vote(z < -k, z > k), np.abs(z) - k


def finish(votes: FloatArray, strengths: FloatArray, valid: BoolArray) -> tuple[VoteArray, StrengthArray]:
    """Apply the contract to raw rule outputs of any shape: invalid → (0, 0), votes int8 in {-1, 0, 1},
    strengths float32 in [0, 1] and 0 where the vote is 0."""
    signs = np.sign(votes, where=valid, out=np.zeros(votes.shape)).astype(np.int8)
    strengths = np.where((signs != 0) & (strengths >= 0), strengths, 0.0)  # NaN compares False
    return signs, np.minimum(strengths, 1.0).astype(np.float32)


def evaluate(rule: Rule, x: RuleInput) -> tuple[VoteArray, StrengthArray]:
    """Run `rule` under the contract of `finish`, NaN in anything the rule read making the symbol invalid."""
    votes, strengths = rule(x)
    return finish(np.asarray(votes, dtype=np.float64), np.asarray(strengths, dtype=np.float64), x.valid())
