"""SensorShard: warm-up, per-close output shapes, gap filling, late symbols, and rule failures."""

from __future__ import annotations

import numpy as np
import pytest

from casino_tui.model import TIMEFRAME_MS, TIMEFRAMES, Candle
from casino_tui.sensors import catalog as cat
from casino_tui.sensors import indicators as ind
from casino_tui.sensors.catalog import CATALOG, SensorSpec, sensors_of
from casino_tui.sensors.shard import HistoryArrays, SensorShard, align_history, boundary_arrays, serve

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def random_candles(steps: int, n: int, seed: int) -> np.ndarray:
    """(steps, 5, n) random-walk candles."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, (steps, n)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, (steps, n)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, (steps, n)))
    return np.stack([open_, high, low, close, rng.uniform(1, 20, (steps, n))], axis=1)


def as_history(
    rows: np.ndarray, symbols=SYMBOLS, timeframes=TIMEFRAMES
) -> dict[str, dict[str, list[Candle]]]:
    return {
        tf: {
            sym: [Candle(sym, tf, t * TIMEFRAME_MS[tf], *map(float, rows[t, :, j])) for t in range(len(rows))]
            for j, sym in enumerate(symbols)
        }
        for tf in timeframes
    }


ALL = np.ones(len(SYMBOLS), dtype=bool)


def test_on_close_returns_one_row_per_symbol_and_one_column_per_sensor_of_the_timeframe():
    rows = random_candles(120, len(SYMBOLS), seed=1)
    shard = SensorShard(SYMBOLS)
    shard.warm(as_history(rows[:100]))
    for tf in TIMEFRAMES:
        votes, strengths, trend = shard.on_close(tf, 100 * TIMEFRAME_MS[tf], rows[100], ALL)
        k = len(sensors_of(CATALOG, tf))
        assert votes.shape == strengths.shape == (len(SYMBOLS), k)
        assert votes.dtype == np.int8 and strengths.dtype == np.float32 and trend.dtype == np.int8
        assert trend.shape == (len(SYMBOLS),)
        assert set(np.unique(votes)) <= {-1, 0, 1} and set(np.unique(trend)) <= {-1, 0, 1}
        assert ((strengths >= 0) & (strengths <= 1)).all()
        assert ((votes != 0) | (strengths == 0)).all()
        assert np.count_nonzero(votes) > 0, f"a warmed {tf} shard should have opinions"
        assert shard.sensor_names(tf) == tuple(spec.name for spec in sensors_of(CATALOG, tf))


def test_warm_leaves_the_same_state_as_feeding_the_closes_one_by_one():
    rows = random_candles(90, len(SYMBOLS), seed=2)
    warmed, fed = SensorShard(SYMBOLS), SensorShard(SYMBOLS)
    warmed.warm(as_history(rows[:80], timeframes=["1m"]))
    for t in range(80):
        fed.on_close("1m", t * 60_000, rows[t], ALL)
    for t in range(80, 90):
        a, b = warmed.on_close("1m", t * 60_000, rows[t], ALL), fed.on_close("1m", t * 60_000, rows[t], ALL)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_missing_symbol_carries_its_last_close_forward_as_a_flat_candle():
    rows = random_candles(80, len(SYMBOLS), seed=3)
    gapped, explicit = SensorShard(SYMBOLS), SensorShard(SYMBOLS)
    for t in range(70):
        gapped.on_close("1m", t, rows[t], ALL)
        explicit.on_close("1m", t, rows[t], ALL)
    last = rows[69, 3, 1]
    flat = rows[70].copy()
    flat[:4, 1], flat[4, 1] = last, 0.0
    missing = np.array([True, False, True])
    a = gapped.on_close("1m", 70, np.where(missing, rows[70], np.nan), missing)
    b = explicit.on_close("1m", 70, flat, ALL)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_symbol_never_seen_votes_zero_until_its_first_candle_then_is_backfilled_from_its_first_open():
    rows = random_candles(100, len(SYMBOLS), seed=4)
    late = np.array([True, True, False])
    live = SensorShard(SYMBOLS)
    for t in range(60):
        votes, strengths, trend = live.on_close("1m", t, np.where(late, rows[t], np.nan), late)
        assert not votes[2].any() and not strengths[2].any() and trend[2] == 0
    # The reference sees the late symbol's first 60 rows as flat, zero-volume candles at its first open.
    backfilled = rows.copy()
    backfilled[:60, :4, 2] = rows[60, 0, 2]
    backfilled[:60, 4, 2] = 0.0
    reference = SensorShard(SYMBOLS)
    for t in range(60):
        reference.on_close("1m", t, backfilled[t], ALL)
    for t in range(60, 100):
        a, b = live.on_close("1m", t, rows[t], ALL), reference.on_close("1m", t, backfilled[t], ALL)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9)
    assert np.count_nonzero(a[0][2]) > 0


def test_align_history_puts_every_symbol_on_one_time_axis_with_nan_gaps():
    history = {
        "1m": {
            "BTCUSDT": [Candle("BTCUSDT", "1m", ms, 1, 2, 0.5, 1.5, 10) for ms in (0, 60_000, 120_000)],
            "ETHUSDT": [Candle("ETHUSDT", "1m", 60_000, 3, 4, 2.5, 3.5, 20)],
        }
    }
    rows = align_history(history, ["ETHUSDT", "BTCUSDT"])["1m"]
    assert rows.open_ms.tolist() == [0, 60_000, 120_000]
    assert rows.ohlcv.shape == (3, 5, 2)
    assert np.isnan(rows.ohlcv[0, :, 0]).all() and rows.ohlcv[1, :, 0].tolist() == [3, 4, 2.5, 3.5, 20]
    assert rows.ohlcv[2, 3, 1] == 1.5 and np.isnan(rows.ohlcv[2, :, 0]).all()


def test_boundary_arrays_put_each_candle_in_its_symbols_column_and_leave_the_rest_nan():
    candles = [
        Candle("SOLUSDT", "1m", 0, 5, 6, 4.5, 5.5, 30),
        Candle("DOGEUSDT", "1m", 0, 7, 8, 6.5, 7.5, 40),  # not one of the shard's symbols: left out
        Candle("BTCUSDT", "1m", 0, 1, 2, 0.5, 1.5, 10),
    ]
    ohlcv, present = boundary_arrays(candles, {sym: j for j, sym in enumerate(SYMBOLS)})
    assert present.tolist() == [True, False, True]
    assert ohlcv[:, 0].tolist() == [1, 2, 0.5, 1.5, 10] and ohlcv[:, 2].tolist() == [5, 6, 4.5, 5.5, 30]
    assert np.isnan(ohlcv[:, 1]).all()


def test_boundary_arrays_of_no_candles_are_all_missing():
    ohlcv, present = boundary_arrays([], {sym: j for j, sym in enumerate(SYMBOLS)})
    assert ohlcv.shape == (5, 3) and np.isnan(ohlcv).all() and not present.any()


def test_the_candle_ring_keeps_only_the_newest_rows():
    rows = random_candles(50, len(SYMBOLS), seed=5)
    shard = SensorShard(SYMBOLS, history_len=20)
    shard.warm_arrays({"5m": HistoryArrays(np.arange(50) * 300_000, rows)})
    kept = shard._books["5m"].ring_rows()
    assert kept.open_ms.tolist() == (np.arange(30, 50) * 300_000).tolist()
    np.testing.assert_array_equal(kept.ohlcv, rows[30:])


class ExplodingRule:
    """A rule with a bug: it always raises."""

    def __call__(self, x):
        raise ZeroDivisionError("boom")


FAULTY = (
    SensorSpec("bad_1m", "1m", (("rsi", ind.RsiState, {"period": 3}),), ExplodingRule(), "always raises"),
    SensorSpec(
        "good_1m", "1m", (("rsi", ind.RsiState, {"period": 3}),), cat.Level("rsi", 50.0, 0.0, 10.0), "rsi"
    ),
)


def test_a_raising_rule_votes_zero_is_counted_every_close_and_reported_once():
    shard = SensorShard(["BTCUSDT"], FAULTY)
    closes = [100.0, 101, 102, 103, 104, 105]
    replies = [
        serve(
            shard, "on_close", ("1m", t, np.array([[c], [c + 0.5], [c - 0.5], [c], [1.0]]), np.ones(1, bool))
        )
        for t, c in enumerate(closes)
    ]
    votes, strengths, _ = replies[-1].result
    assert votes[0].tolist() == [0, 1] and strengths[0, 0] == 0.0
    assert [r.errors for r in replies] == [1] * len(closes)
    reported = [err for r in replies for err in r.new_errors]
    assert reported == [("bad_1m", "ZeroDivisionError: boom")]


def test_serve_refuses_anything_but_shard_calls():
    with pytest.raises(ValueError, match="not a shard call"):
        serve(SensorShard(["BTCUSDT"]), "__init__", ())


def test_indicator_states_shared_by_sensors_are_built_once_per_timeframe():
    shard = SensorShard(SYMBOLS)
    book = shard._books["1m"]
    declared = {
        (cls, tuple(sorted(params.items())))
        for spec in sensors_of(CATALOG, "1m") + (cat.TREND_RULE,)
        for _, cls, params in spec.indicators
    }
    assert len(book.states) == len(declared)
