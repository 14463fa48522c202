"""RuleBatch: the declared rules of a timeframe evaluated together give, bit for bit, what each rule called
alone through a RuleInput gives; anything else still runs alone, and its failures are reported."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from casino_tui.model import TIMEFRAMES
from casino_tui.sensors.catalog import Cross, Level, Zone
from casino_tui.sensors.rulebatch import RuleBatch
from casino_tui.sensors.rules import RuleInput, evaluate, finish
from casino_tui.sensors.shard import SensorShard

N = 6


def candles(steps: int, seed: int) -> np.ndarray:
    """(T, 5, N) random-walk candles, with a flat stretch (zero ranges) and a few missing symbols."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, (steps, N)), axis=0))
    close[60:75, 1] = close[60, 1]
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, (steps, N)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, (steps, N)))
    high[60:75, 1] = low[60:75, 1] = close[60:75, 1]
    return np.stack([open_, high, low, close, rng.uniform(1, 50, (steps, N))], axis=1)


def batch_result(batch: RuleBatch, book, generation: int, errors: list) -> tuple[np.ndarray, np.ndarray]:
    votes, strengths, valid = batch.evaluate(
        book.close, book.prev_close, book.now, book.before, generation, lambda name, exc: errors.append(name)
    )
    with np.errstate(all="ignore"):
        return finish(votes, strengths, valid & np.isfinite(book.close))


def one_by_one(book, sensors) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    with np.errstate(all="ignore"):
        for _, rule, index in sensors:
            rows.append(evaluate(rule, RuleInput(book.close, book.prev_close, book.now, book.before, index)))
    return np.stack([v for v, _ in rows]), np.stack([s for _, s in rows])


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_every_catalog_rule_batched_equals_the_rule_called_alone(timeframe):
    data = candles(160, seed=3)
    shard = SensorShard([f"S{i}" for i in range(N)])
    book = shard._books[timeframe]
    sensors = [*book.sensors, book.trend]
    batch = RuleBatch(N, sensors)
    assert not batch.loose, "every catalog rule declares its lines"
    present = np.ones(N, dtype=bool)
    errors: list[str] = []
    for t in range(len(data)):
        present[2] = t % 7 != 0  # a symbol that misses a candle now and then
        shard.on_close(timeframe, t, data[t], present.copy())
        got = batch_result(batch, book, book.generation, errors)
        want = one_by_one(book, sensors)
        np.testing.assert_array_equal(got[0], want[0], err_msg=f"votes differ at close {t}")
        np.testing.assert_array_equal(got[1], want[1], err_msg=f"strengths differ at close {t}")
    assert errors == []
    assert np.count_nonzero(got[0]) > 0, "the comparison saw votes, not only warm-up zeros"


@dataclass(frozen=True)
class RaisingRule:
    """Not a declared rule, and broken."""

    def __call__(self, x):
        raise ZeroDivisionError("boom")


@dataclass(frozen=True)
class PlainRule:
    """Not a declared rule: votes +0.7 wherever the line is above 50."""

    key: str

    def __call__(self, x):
        v = x.now(self.key)
        return (v > 50) * 0.7, np.full(v.shape, 0.6)


class OneDimensionalLevel(Level):
    """A declared rule whose arithmetic only works on one rule at a time."""

    __slots__ = ()

    def compute(self, v, per, mid, band):  # type: ignore[no-untyped-def,override]
        if np.ndim(v) != 1:
            raise ValueError("one rule at a time")
        return Level.compute(self, v, per, mid, band)


def small_book(rule_sensors):
    close = np.array([100.0, 100.0, np.nan, 100.0])
    now = [np.array([10.0, 60.0, 60.0, np.nan])]
    before = [np.array([50.0, 50.0, 50.0, 50.0])]
    return close, now, before, [(name, rule, {"rsi": 0}) for name, rule in rule_sensors]


def test_undeclared_and_failing_rules_run_alone_and_failures_are_reported():
    close, now, before, sensors = small_book(
        [
            ("zone", Zone("rsi", 30.0, 70.0, scale=20.0)),
            ("plain", PlainRule("rsi")),
            ("raising", RaisingRule()),
            ("unknown_key", Zone("missing", 30.0, 70.0, scale=20.0)),
        ]
    )
    batch = RuleBatch(4, sensors)
    assert batch.loose == [1, 2, 3]
    errors: list[tuple[str, str]] = []
    votes, strengths, valid = batch.evaluate(
        close, close, now, before, 1, lambda name, exc: errors.append((name, type(exc).__name__))
    )
    votes, strengths = finish(votes, strengths, valid & np.isfinite(close))

    assert votes[0].tolist() == [1, 0, 0, 0], "the NaN line and the NaN close give 0"
    assert votes[1].tolist() == [0, 1, 0, 0] and strengths[1, 1] == pytest.approx(0.6)
    assert votes[2].tolist() == votes[3].tolist() == [0, 0, 0, 0]
    assert errors == [("raising", "ZeroDivisionError"), ("unknown_key", "KeyError")]


def test_a_group_that_fails_as_a_batch_falls_back_to_single_calls():
    close, now, before, sensors = small_book(
        [
            ("level_a", OneDimensionalLevel("rsi", 50.0, 5.0, 20.0)),
            ("level_b", OneDimensionalLevel("rsi", 40.0, 5.0, 20.0)),
        ]
    )
    batch = RuleBatch(4, sensors)
    errors: list[str] = []
    votes, strengths, valid = batch.evaluate(
        close, close, now, before, 1, lambda name, exc: errors.append(name)
    )
    votes, _ = finish(votes, strengths, valid & np.isfinite(close))
    assert votes.tolist() == [[-1, 1, 0, 0], [-1, 1, 0, 0]]
    assert errors == [], "the rules themselves work: nothing to report"


def test_the_previous_block_is_reused_only_for_the_close_right_after():
    close, now, before, sensors = small_book([("cross", Cross("rsi", 50.0, scale=20.0, per_price=False))])
    fed = RuleBatch(4, sensors)
    fed.evaluate(close, close, now, before, 1, lambda *_: None)
    later = [np.array([80.0, 20.0, 55.0, 45.0])]
    # Generation 3 is not the close after 1: `before` must be read, not the block of generation 1.
    got = fed.evaluate(close, close, later, before, 3, lambda *_: None)
    want = RuleBatch(4, sensors).evaluate(close, close, later, before, 3, lambda *_: None)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    # After a reset the next generation does not describe the close after the last block either.
    fed.forget()
    other = [np.array([45.0, 55.0, 45.0, 55.0])]
    again = fed.evaluate(close, close, now, other, 4, lambda *_: None)
    fresh = RuleBatch(4, sensors).evaluate(close, close, now, other, 4, lambda *_: None)
    for a, b in zip(again, fresh, strict=True):
        np.testing.assert_array_equal(a, b)
    assert again[0][0].tolist() == [0.0, 0.0, 1.0, 0.0], "crossed from `other`, not from the cached block"
