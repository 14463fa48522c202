"""The simulated market: determinism, realistic candles, history joined to live, trade arrivals, klines."""

from __future__ import annotations

import numpy as np
import pytest

from casino_tui.config import DEFAULT_SYMBOLS
from casino_tui.exchange.sim.market import SIM_SYMBOLS, SimMarket, sim_symbol, synthetic_symbols
from casino_tui.model import Candle, Trade

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MAJORS = list(DEFAULT_SYMBOLS)


def on_grid(value: float, step: str) -> bool:
    n = value / float(step)
    return abs(n - round(n)) < 1e-6


@pytest.fixture(scope="module")
def market() -> SimMarket:
    return SimMarket(MAJORS, seed=7, start_ms=START)


@pytest.fixture(scope="module")
def half_hour() -> tuple[SimMarket, list[Trade]]:
    m = SimMarket(MAJORS, seed=11, start_ms=START)
    return m, m.advance(START + 30 * 60_000 - 1)


def test_same_seed_gives_identical_trades_and_history() -> None:
    a, b = SimMarket(MAJORS, 3, START), SimMarket(MAJORS, 3, START)
    assert a.advance(START + 120_000) == b.advance(START + 120_000)
    assert a.history("ETHUSDT", minutes=500) == b.history("ETHUSDT", minutes=500)


def test_different_seeds_give_different_paths() -> None:
    a, b = SimMarket(MAJORS, 3, START), SimMarket(MAJORS, 4, START)
    a.advance(START + 600_000)
    b.advance(START + 600_000)
    assert a.last_price("BTCUSDT") != b.last_price("BTCUSDT")
    assert a.history("BTCUSDT", minutes=100) != b.history("BTCUSDT", minutes=100)


def test_trades_do_not_depend_on_how_time_is_advanced() -> None:
    coarse = SimMarket(MAJORS, 5, START).advance(START + 150_000)
    stepped_market = SimMarket(MAJORS, 5, START)
    stepped: list[Trade] = []
    for t in range(START, START + 150_001, 997):
        stepped += stepped_market.advance(t)
    stepped += stepped_market.advance(START + 150_000)
    assert stepped == coarse


def test_a_symbols_path_does_not_depend_on_the_other_symbols() -> None:
    alone = SimMarket(["SOLUSDT"], 9, START)
    crowd = SimMarket(synthetic_symbols(20), 9, START)
    assert alone.history("SOLUSDT", minutes=300) == crowd.history("SOLUSDT", minutes=300)
    alone.advance(START + 300_000)
    crowd.advance(START + 300_000)
    assert alone.mark_price("SOLUSDT") == crowd.mark_price("SOLUSDT")


def test_unknown_symbol_raises_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="unknown symbol: FOOUSDT"):
        SimMarket(["BTCUSDT", "FOOUSDT"], 1, START)
    with pytest.raises(ValueError, match="unknown symbol: FOOUSDT"):
        SimMarket(["BTCUSDT"], 1, START).last_price("FOOUSDT")


def test_majors_carry_binance_filters_and_start_near_reference_prices(market: SimMarket) -> None:
    btc = SIM_SYMBOLS["BTCUSDT"]
    assert (btc.tick_size, btc.step_size, btc.min_notional) == ("0.1", "0.001", "100")
    assert (SIM_SYMBOLS["SOLUSDT"].step_size, SIM_SYMBOLS["DOGEUSDT"].tick_size) == ("1", "0.00001")
    references = {"BTCUSDT": 95_000, "ETHUSDT": 3_400, "SOLUSDT": 180, "XRPUSDT": 2.3, "DOGEUSDT": 0.32}
    for symbol, ref in references.items():
        assert abs(market.history(symbol, minutes=1)[-1].close / ref - 1) < 0.01, symbol


def test_synthetic_symbols_follow_the_majors_with_plausible_rules() -> None:
    names = synthetic_symbols(50)
    assert names[:8] == MAJORS and names[8] == "SYN001USDT" and len(set(names)) == 50
    for name in names[8:]:
        rules, profile = sim_symbol(name)
        tick_bp = float(rules.tick_size) / profile.price * 1e4
        assert 0.05 <= tick_bp <= 10, (name, rules.tick_size, profile.price)
        assert 0.05 <= float(rules.step_size) * profile.price <= 50, (name, rules.step_size)
        assert rules.min_notional == "5" and rules.symbol == name
    assert sim_symbol("SYN017USDT") == sim_symbol("SYN017USDT")


def test_history_candles_have_realistic_one_minute_ranges(market: SimMarket) -> None:
    for symbol in MAJORS:
        candles = market.history(symbol, minutes=3000)
        o, h, lo, c = (np.array([getattr(k, f) for k in candles]) for f in ("open", "high", "low", "close"))
        assert np.all(lo <= np.minimum(o, c)) and np.all(h >= np.maximum(o, c)), symbol
        median_range = float(np.median((h - lo) / o))
        assert 0.0003 < median_range < 0.004, (symbol, median_range)
        sd = float(np.std(np.diff(np.log(c))))
        assert 0.0004 < sd < 0.0025, (symbol, sd)
        tick = SIM_SYMBOLS[symbol].tick_size
        assert all(on_grid(k.close, tick) and on_grid(k.high, tick) for k in candles[-50:]), symbol


def test_history_is_contiguous_and_ends_at_the_start_price(market: SimMarket) -> None:
    candles = market.history("BNBUSDT", minutes=2000)  # spans two generated day blocks
    assert len(candles) == 2000
    assert [k.open_ms for k in candles] == list(range(START - 2000 * 60_000, START, 60_000))
    assert all(b.open == a.close for a, b in zip(candles, candles[1:], strict=False))
    assert candles[-1].close == 650.0
    assert all(k.trades > 0 and k.volume > 0 and k.closed for k in candles)


def test_live_candles_join_history_without_a_gap() -> None:
    m = SimMarket(MAJORS, 21, START)
    m.advance(START + 10 * 60_000)
    joined = m.history("ETHUSDT", end_ms=START + 10 * 60_000, minutes=30)
    assert [k.open_ms for k in joined] == list(range(START - 20 * 60_000, START + 10 * 60_000, 60_000))
    last_hist, first_live = joined[19], joined[20]
    assert abs(first_live.open / last_hist.close - 1) < 0.001
    assert all(abs(b.open / a.close - 1) < 0.001 for a, b in zip(joined, joined[1:], strict=False))


def test_live_candles_match_the_trades_that_made_them(half_hour: tuple[SimMarket, list[Trade]]) -> None:
    m, trades = half_hour
    minute = [t for t in trades if t.symbol == "LINKUSDT" and START + 60_000 <= t.ts_ms < START + 120_000]
    candle = m.klines("LINKUSDT", "1m", 30, START + 30 * 60_000)[1]
    assert candle.open_ms == START + 60_000
    prices = [t.price for t in minute]
    assert (candle.open, candle.close, candle.high, candle.low) == (
        prices[0],
        prices[-1],
        max(prices),
        min(prices),
    )
    assert candle.trades == len(minute)
    assert candle.volume == pytest.approx(sum(t.qty for t in minute))


def test_trades_are_time_ordered_and_on_the_exchange_grid(half_hour: tuple[SimMarket, list[Trade]]) -> None:
    _, trades = half_hour
    assert [t.ts_ms for t in trades] == sorted(t.ts_ms for t in trades)
    assert trades[0].ts_ms >= START and trades[-1].ts_ms < START + 30 * 60_000
    for t in trades[::97]:
        rules = SIM_SYMBOLS[t.symbol]
        assert on_grid(t.price, rules.tick_size) and on_grid(t.qty, rules.step_size) and t.qty > 0, t


def test_trade_arrivals_are_plausible_and_bursty(half_hour: tuple[SimMarket, list[Trade]]) -> None:
    _, trades = half_hour
    seconds = 30 * 60
    for symbol in MAJORS:
        per_second = np.bincount(
            [(t.ts_ms - START) // 1000 for t in trades if t.symbol == symbol], minlength=seconds
        )
        rate = per_second.mean()
        assert 3 <= rate <= 20, (symbol, rate)
        assert per_second.var() > 1.5 * rate, (symbol, "arrivals should cluster more than a plain Poisson")
    assert 5 <= len(trades) / seconds / len(MAJORS) <= 15


def test_returns_share_a_market_factor(market: SimMarket) -> None:
    closes = {
        s: np.log([k.close for k in market.history(s, minutes=3000)])
        for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    }
    returns = {s: np.diff(c) for s, c in closes.items()}
    assert np.corrcoef(returns["BTCUSDT"], returns["ETHUSDT"])[0, 1] > 0.5
    assert np.corrcoef(returns["BTCUSDT"], returns["SOLUSDT"])[0, 1] > 0.4


def test_klines_aggregate_one_minute_candles_on_aligned_boundaries(market: SimMarket) -> None:
    ones = market.klines("XRPUSDT", "1m", 120, START)
    fives = market.klines("XRPUSDT", "5m", 24, START)
    hours = market.klines("XRPUSDT", "1h", 30, START)
    assert len(fives) == 24 and len(hours) == 30
    assert all(k.open_ms % 300_000 == 0 for k in fives) and all(k.open_ms % 3_600_000 == 0 for k in hours)
    first = ones[:5]
    assert fives[0] == Candle(
        "XRPUSDT",
        "5m",
        first[0].open_ms,
        first[0].open,
        max(k.high for k in first),
        min(k.low for k in first),
        first[-1].close,
        pytest.approx(sum(k.volume for k in first)),  # type: ignore[arg-type]
        sum(k.trades for k in first),
    )
    assert hours[-1].close == ones[-1].close and hours[-1].open_ms == START - 3_600_000


def test_klines_include_only_candles_closed_by_the_simulated_time() -> None:
    m = SimMarket(MAJORS, 2, START)
    m.advance(START + 90_000)
    future = START + 10 * 3_600_000
    assert m.klines("BTCUSDT", "1m", 5, future)[-1].open_ms == START
    assert m.klines("BTCUSDT", "5m", 5, future)[-1].open_ms == START - 300_000
    m.advance(START + 2 * 3_600_000)
    hours = m.klines("BTCUSDT", "1h", 3, None)
    assert [k.open_ms for k in hours] == [START - 3_600_000, START, START + 3_600_000]
    assert hours[-1].close == m.klines("BTCUSDT", "1m", 1, START + 2 * 3_600_000)[0].close


def test_mark_price_stays_close_to_the_last_trade(half_hour: tuple[SimMarket, list[Trade]]) -> None:
    m, _ = half_hour
    for symbol in MAJORS:
        assert abs(m.mark_price(symbol) / m.last_price(symbol) - 1) < 0.002, symbol


def test_a_start_inside_a_minute_streams_only_later_trades_but_keeps_whole_candles() -> None:
    start = START + 25_500
    m = SimMarket(MAJORS, 13, start)
    trades = m.advance(START + 3 * 3_600_000)
    assert trades[0].ts_ms >= start
    assert m.history("BTCUSDT", minutes=1)[-1].open_ms == START - 60_000
    first_live = m.klines("BTCUSDT", "1m", 180)[0]
    assert first_live.open_ms == START
    streamed = sum(1 for t in trades if t.symbol == "BTCUSDT" and t.ts_ms < START + 60_000)
    assert first_live.trades > streamed  # the minute also holds the trades before the start
    live = m.klines("DOGEUSDT", "1m", 180)
    median_range = float(np.median([(k.high - k.low) / k.open for k in live]))
    assert 0.0003 < median_range < 0.004
