"""Engine (the MarketSink) and StreamStats: routing, bad input, counters, stream health and staleness."""

from __future__ import annotations

import logging
import math

import pytest

from casino_tui.clock import ManualClock
from casino_tui.engine.candles import CandleBook
from casino_tui.engine.engine import Engine
from casino_tui.engine.streams import SPARK_LEN, StreamStats
from casino_tui.model import Candle, Trade

T0 = 1_767_225_600_000
MIN = 60_000
SYMBOLS = ("BTCUSDT", "ETHUSDT")


class Sink:
    def __init__(self) -> None:
        self.batches: list[tuple[str, int, list[Candle]]] = []

    def __call__(self, timeframe: str, open_ms: int, candles: list[Candle]) -> None:
        self.batches.append((timeframe, open_ms, candles))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def make_engine(clock: ManualClock, on_candles=None) -> tuple[Engine, Sink]:
    sink = Sink()
    engine = Engine(
        SYMBOLS, clock, CandleBook(SYMBOLS), StreamStats(SYMBOLS, clock), on_candles if on_candles else sink
    )
    return engine, sink


def test_trades_feed_stats_and_candles_and_batches_reach_the_consumer(clock):
    engine, sink = make_engine(clock)
    engine.on_trade(Trade("BTCUSDT", 100.0, 1.0, T0 + 10))
    engine.on_trade(Trade("BTCUSDT", 102.0, 0.5, T0 + 20))
    engine.on_trade(Trade("ETHUSDT", 50.0, 2.0, T0 + 30))

    clock.advance(MIN)
    assert engine.tick_timer() == 1

    assert sink.batches == [
        (
            "1m",
            T0,
            [
                Candle("BTCUSDT", "1m", T0, 100.0, 102.0, 100.0, 102.0, 1.5, 2),
                Candle("ETHUSDT", "1m", T0, 50.0, 50.0, 50.0, 50.0, 2.0, 1),
            ],
        )
    ]
    counters = engine.counters()
    assert (counters.ticks, counters.candles_closed, counters.batches) == (3, 2, 1)
    rows = {row.symbol: row for row in engine.streams.rows(clock.now_ms())}
    assert rows["BTCUSDT"].last == 102.0 and rows["BTCUSDT"].spark == (102.0,)


def test_a_candle_book_that_has_a_consumer_already_is_refused(clock):
    book = CandleBook(SYMBOLS, on_close=Sink())
    with pytest.raises(ValueError, match="already has a consumer"):
        Engine(SYMBOLS, clock, book, StreamStats(SYMBOLS, clock), Sink())


def test_without_on_candles_closes_still_count_and_feed_the_sparks(clock):
    engine = Engine(SYMBOLS, clock, CandleBook(SYMBOLS), StreamStats(SYMBOLS, clock))
    engine.on_trade(Trade("ETHUSDT", 50.0, 2.0, T0 + 30))
    engine.tick_timer(T0 + MIN)

    assert (engine.ticks, engine.candles_closed, engine.counters().batches) == (1, 1, 1)
    assert engine.streams.rows(T0 + MIN)[1].spark == (50.0,), "closes still pass through the engine"


def test_unknown_symbols_are_counted_and_ignored(clock):
    engine, sink = make_engine(clock)
    engine.on_trade(Trade("NOPEUSDT", 1.0, 1.0, T0))
    engine.tick_timer(T0 + 2 * MIN)

    counters = engine.counters()
    assert (counters.unknown, counters.ticks) == (1, 0)
    assert sink.batches == []


@pytest.mark.parametrize(
    ("price", "qty"),
    [(math.nan, 1.0), (math.inf, 1.0), (-5.0, 1.0), (0.0, 1.0), (100.0, -1.0), (100.0, math.nan)],
)
def test_malformed_trades_are_counted_and_dropped(clock, price, qty):
    engine, _ = make_engine(clock)
    engine.on_trade(Trade("BTCUSDT", price, qty, T0))

    counters = engine.counters()
    assert (counters.dropped, counters.ticks) == (1, 0)
    assert engine.candles.open_candle("BTCUSDT") is None
    assert engine.streams.get("BTCUSDT").last == 0.0


def test_on_trade_never_raises_on_garbage(clock):
    engine, _ = make_engine(clock)
    engine.on_trade(Trade("BTCUSDT", "100", 1.0, T0))  # type: ignore[arg-type]  # wrong type: str price
    engine.on_trade(None)  # type: ignore[arg-type]

    assert engine.counters().errors == 2
    engine.on_trade(Trade("BTCUSDT", 100.0, 1.0, T0))
    assert engine.counters().ticks == 1, "the engine keeps working after bad input"


def test_a_failing_consumer_is_contained_and_logged(clock, caplog):
    def consumer(timeframe: str, open_ms: int, candles: list[Candle]) -> None:
        raise RuntimeError("sensor bug")

    engine, _ = make_engine(clock, on_candles=consumer)
    engine.on_trade(Trade("BTCUSDT", 100.0, 1.0, T0))
    with caplog.at_level(logging.ERROR, logger="casino.engine"):
        engine.tick_timer(T0 + 2 * MIN)

    assert engine.counters().consumer_errors == 2
    assert "candle consumer failed" in caplog.text
    assert engine.candles.next_boundary_ms == T0 + 2 * MIN


def test_late_trades_show_in_the_counters(clock):
    engine, _ = make_engine(clock)
    engine.on_trade(Trade("BTCUSDT", 100.0, 1.0, T0 + 5))
    engine.tick_timer(T0 + MIN)
    engine.on_trade(Trade("BTCUSDT", 101.0, 1.0, T0 + 59_999))

    assert engine.counters().late == 1


def test_seed_fills_candle_history_and_sparks(clock):
    engine, sink = make_engine(clock)
    history = [
        Candle("BTCUSDT", "1m", T0 - (90 - i) * MIN, 1.0, 2.0, 0.5, float(i), 1.0, 1) for i in range(90)
    ]
    engine.seed({"BTCUSDT": history})

    spark = {row.symbol: row.spark for row in engine.streams.rows(T0)}
    assert spark["BTCUSDT"] == tuple(float(i) for i in range(30, 90))
    assert len(spark["BTCUSDT"]) == SPARK_LEN and spark["ETHUSDT"] == ()
    engine.tick_timer(T0 + MIN)
    assert sink.batches[0][2] == [Candle("BTCUSDT", "1m", T0, 89.0, 89.0, 89.0, 89.0, 0.0, 0)]


def test_stream_status_changes_are_recorded_and_make_data_stale(clock):
    engine, _ = make_engine(clock)
    engine.on_stream_status("market", True, "")
    engine.on_trade(Trade("BTCUSDT", 100.0, 1.0, T0))
    assert engine.is_stale(T0, 10.0) == (False, "")

    clock.advance(1_000)
    engine.on_stream_status("market", False, "socket closed 1006")
    stale, reason = engine.is_stale(clock.now_ms(), 10.0)

    assert stale and "market" in reason and "1006" in reason
    (status,) = engine.stream_status()
    assert (status.connected, status.since_ms, status.disconnects) == (False, T0 + 1_000, 1)
    engine.on_stream_status("market", True, "reconnected")
    assert engine.is_stale(clock.now_ms(), 10.0) == (False, "")


def test_mark_prices_are_kept_per_symbol(clock):
    engine, _ = make_engine(clock)
    engine.on_mark_price("BTCUSDT", 97_000.5, T0)
    engine.on_mark_price("NOPEUSDT", 1.0, T0)
    engine.on_mark_price("ETHUSDT", math.nan, T0)

    assert engine.streams.marks() == {"BTCUSDT": 97_000.5}
    assert engine.streams.mark("ETHUSDT") is None
    assert engine.counters().marks == 1


# ---- StreamStats ---------------------------------------------------------------------------------------


def feed(stats: StreamStats, symbol: str, n: int, price: float, ts_ms: int) -> None:
    handle = stats.handle(symbol)
    for _ in range(n):
        stats.record(handle, price, ts_ms)


def test_ticks_per_second_comes_from_coarse_samples(clock):
    stats = StreamStats(SYMBOLS, clock, bucket_ms=1_000, window_ms=10_000)
    for _ in range(20):  # 20 s: BTC at 5 ticks/s, ETH at 1 tick/s, the timer sampling every second
        feed(stats, "BTCUSDT", 5, 100.0, clock.now_ms())
        feed(stats, "ETHUSDT", 1, 50.0, clock.now_ms())
        clock.advance(1_000)
        stats.observe(clock.now_ms())

    rows = {row.symbol: row for row in stats.rows(clock.now_ms())}
    assert rows["BTCUSDT"].ticks_per_s == pytest.approx(5.0)
    assert rows["ETHUSDT"].ticks_per_s == pytest.approx(1.0)
    assert stats.total_ticks == 120


def test_rate_falls_when_a_symbol_goes_quiet(clock):
    stats = StreamStats(SYMBOLS, clock, bucket_ms=1_000, window_ms=10_000)
    for second in range(30):
        if second < 15:
            feed(stats, "BTCUSDT", 4, 100.0, clock.now_ms())
        clock.advance(1_000)
        stats.observe(clock.now_ms())

    assert stats.rows(clock.now_ms())[0].ticks_per_s == 0.0


def test_age_is_measured_from_the_observed_receipt(clock):
    stats = StreamStats(SYMBOLS, clock)
    clock.advance(2_000)
    feed(stats, "BTCUSDT", 1, 100.0, T0 - 500)  # exchange time earlier than the local clock
    stats.observe(clock.now_ms())
    clock.advance(7_250)

    row = stats.rows(clock.now_ms())[0]
    assert row.age_s == pytest.approx(7.25)
    assert stats.exchange_age_s("BTCUSDT", clock.now_ms()) == pytest.approx(9.75)
    assert stats.rows(clock.now_ms())[1].age_s == pytest.approx(9.25), "never traded: age since session start"


def test_age_and_rate_are_in_wall_seconds_for_a_fast_clock():
    clock = ManualClock(T0)
    clock.speed = 30.0
    stats = StreamStats(SYMBOLS, clock)
    feed(stats, "BTCUSDT", 60, 100.0, T0)
    stats.observe(T0)
    clock.advance(60_000)  # one simulated minute = two wall seconds

    row = stats.rows(clock.now_ms())[0]
    assert row.age_s == pytest.approx(2.0)
    assert row.ticks_per_s == pytest.approx(30.0)


def test_change_pct_is_against_the_sessions_first_price(clock):
    stats = StreamStats(SYMBOLS, clock)
    stats.add_trade("BTCUSDT", 200.0, T0)
    stats.add_trade("BTCUSDT", 190.0, T0 + 1)
    stats.add_trade("BTCUSDT", 210.0, T0 + 2)

    btc, eth = stats.rows(T0)
    assert (btc.last, btc.change_pct) == (210.0, pytest.approx(5.0))
    assert (eth.last, eth.change_pct) == (0.0, 0.0)
    assert stats.get("BTCUSDT").first == 200.0
    assert (stats.last_price("BTCUSDT"), stats.last_price("ETHUSDT"), stats.last_price("NOPE")) == (
        210.0,
        None,
        None,
    )


def test_spark_keeps_the_last_60_closes(clock):
    stats = StreamStats(SYMBOLS, clock)
    stats.add_closes([Candle("BTCUSDT", "1m", T0 + i * MIN, 1, 1, 1, float(i), 1) for i in range(75)])

    assert stats.rows(T0)[0].spark == tuple(float(i) for i in range(15, 75))


def test_stale_when_no_symbol_trades_for_longer_than_the_limit(clock):
    stats = StreamStats(SYMBOLS, clock)
    clock.advance(5_000)
    assert stats.is_stale(clock.now_ms(), 10.0) == (False, "")
    clock.advance(6_000)
    stale, reason = stats.is_stale(clock.now_ms(), 10.0)
    assert stale and "since start" in reason

    stats.add_trade("ETHUSDT", 50.0, clock.now_ms())
    assert stats.is_stale(clock.now_ms(), 10.0) == (False, "")
    clock.advance(10_000)
    assert stats.is_stale(clock.now_ms(), 10.0) == (False, ""), "exactly at the limit is not stale yet"
    clock.advance(1_000)
    stale, reason = stats.is_stale(clock.now_ms(), 10.0)
    assert stale and reason.startswith("no trades for 11s")
