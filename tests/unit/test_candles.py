"""CandleBook: 1m candles from trades, one batch per boundary, flats for quiet symbols, higher timeframes."""

from __future__ import annotations

import random

import pytest

from casino_tui.engine.candles import CandleBook
from casino_tui.model import TIMEFRAME_MS, Candle

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on every timeframe's boundary
MIN = 60_000

Batch = tuple[str, int, list[Candle]]


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def __call__(self, timeframe: str, open_ms: int, candles: list[Candle]) -> None:
        self.batches.append((timeframe, open_ms, list(candles)))

    def of(self, timeframe: str) -> list[Batch]:
        return [b for b in self.batches if b[0] == timeframe]


def make_book(symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"), **kwargs) -> tuple[CandleBook, Recorder]:
    rec = Recorder()
    return CandleBook(symbols, on_close=rec, **kwargs), rec


def by_symbol(batch: Batch) -> dict[str, Candle]:
    return {c.symbol: c for c in batch[2]}


def resample(candles: list[Candle], timeframe: str) -> list[Candle]:
    """Reference resampling of consecutive 1m candles of one symbol (complete periods only)."""
    tf_ms = TIMEFRAME_MS[timeframe]
    groups: dict[int, list[Candle]] = {}
    for c in candles:
        groups.setdefault(c.open_ms - c.open_ms % tf_ms, []).append(c)
    out = []
    for start, group in sorted(groups.items()):
        if group[-1].open_ms + MIN != start + tf_ms:
            continue  # the period is not complete yet
        out.append(
            Candle(
                group[0].symbol,
                timeframe,
                start,
                group[0].open,
                max(c.high for c in group),
                min(c.low for c in group),
                group[-1].close,
                sum(c.volume for c in group),
                sum(c.trades for c in group),
            )
        )
    return out


def test_ohlcv_follows_the_trade_sequence():
    book, rec = make_book(("BTCUSDT",))
    trades = [(100.0, 1.0), (103.0, 0.5), (99.5, 2.0), (101.0, 0.25), (100.5, 1.25)]
    for i, (price, qty) in enumerate(trades):
        book.add_trade("BTCUSDT", price, qty, T0 + 1_000 * i)

    book.close_due(T0 + MIN)

    assert rec.batches == [("1m", T0, [Candle("BTCUSDT", "1m", T0, 100.0, 103.0, 99.5, 100.5, 5.0, 5)])], (
        "OHLCV must be first/max/min/last price, summed qty and trade count"
    )


def test_trade_of_next_interval_parks_the_candle_until_the_boundary_is_due():
    book, rec = make_book(("BTCUSDT", "ETHUSDT"))
    book.add_trade("BTCUSDT", 100.0, 1.0, T0 + 5_000)
    book.add_trade("ETHUSDT", 50.0, 1.0, T0 + 6_000)

    book.add_trade("BTCUSDT", 104.0, 2.0, T0 + MIN + 10)

    assert rec.batches == [], "a trade of a later interval must not emit the batch before other symbols close"
    assert book.open_candle("BTCUSDT") == Candle(
        "BTCUSDT", "1m", T0 + MIN, 104.0, 104.0, 104.0, 104.0, 2.0, 1, False
    )
    book.close_due(T0 + MIN)
    assert rec.batches == [
        (
            "1m",
            T0,
            [
                Candle("BTCUSDT", "1m", T0, 100.0, 100.0, 100.0, 100.0, 1.0, 1),
                Candle("ETHUSDT", "1m", T0, 50.0, 50.0, 50.0, 50.0, 1.0, 1),
            ],
        )
    ]
    assert book.open_candle("BTCUSDT") is not None, "the candle opened by the later trade stays open"


def test_timer_closes_the_boundary_only_once_its_end_has_passed():
    book, rec = make_book(("BTCUSDT",))
    book.add_trade("BTCUSDT", 100.0, 1.0, T0 + 1)

    assert book.close_due(T0 + MIN - 1) == 0
    assert rec.batches == []
    assert book.close_due(T0 + MIN) == 1
    assert [b[1] for b in rec.batches] == [T0]
    assert book.open_candle("BTCUSDT") is None
    assert book.close_due(T0 + MIN + 500) == 0, "a boundary is emitted once"


def test_grace_delays_the_close():
    book, rec = make_book(("BTCUSDT",), grace_ms=1_500)
    book.add_trade("BTCUSDT", 100.0, 1.0, T0 + 1)
    book.close_due(T0 + MIN + 1_000)
    book.add_trade("BTCUSDT", 101.0, 1.0, T0 + MIN - 1)  # stamped before the boundary, arriving after it

    book.close_due(T0 + MIN + 1_500)

    assert rec.batches == [("1m", T0, [Candle("BTCUSDT", "1m", T0, 100.0, 101.0, 100.0, 101.0, 2.0, 2)])]
    assert book.late == 0


def test_quiet_symbol_gets_a_flat_candle_and_unpriced_symbols_are_left_out():
    book, rec = make_book(("BTCUSDT", "ETHUSDT", "SOLUSDT"))
    book.add_trade("BTCUSDT", 100.0, 1.0, T0 + 1)
    book.add_trade("ETHUSDT", 50.0, 1.0, T0 + 2)
    book.add_trade("ETHUSDT", 51.0, 1.0, T0 + 3)
    book.add_trade("BTCUSDT", 102.0, 1.0, T0 + MIN + 1)

    book.close_due(T0 + 3 * MIN)

    minute0, minute1, minute2 = rec.of("1m")
    assert set(by_symbol(minute0)) == {"BTCUSDT", "ETHUSDT"}, "SOLUSDT has no price yet: no candle"
    assert by_symbol(minute1)["ETHUSDT"] == Candle("ETHUSDT", "1m", T0 + MIN, 51.0, 51.0, 51.0, 51.0, 0.0, 0)
    assert by_symbol(minute2)["BTCUSDT"] == Candle(
        "BTCUSDT", "1m", T0 + 2 * MIN, 102.0, 102.0, 102.0, 102.0, 0.0, 0
    )
    assert [b[1] for b in (minute0, minute1, minute2)] == [T0, T0 + MIN, T0 + 2 * MIN]


def random_session(seed: int, symbols: tuple[str, ...], minutes: int, book: CandleBook) -> None:
    """Trades in time order with gaps, and the timer called at irregular moments (sometimes late)."""
    rng = random.Random(seed)
    prices = {s: rng.uniform(10, 1000) for s in symbols}
    ts = T0 + rng.randrange(0, 30_000)
    next_timer = ts
    while ts < T0 + minutes * MIN:
        sym = rng.choice(symbols[:-1]) if rng.random() < 0.97 else symbols[-1]  # the last one is rarely seen
        prices[sym] *= 1 + rng.gauss(0, 0.002)
        book.add_trade(sym, round(prices[sym], 4), round(rng.uniform(0.01, 3), 3), ts)
        ts += int(rng.expovariate(1 / 700)) if rng.random() < 0.995 else rng.randrange(60_000, 200_000)
        if ts >= next_timer:
            book.close_due(ts)
            next_timer = ts + rng.choice((250, 250, 250, 5_000, 90_000))
    book.close_due(ts + 2 * MIN)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_batch_holds_each_priced_symbol_exactly_once(seed):
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
    book, rec = make_book(symbols)
    random_session(seed, symbols, 90, book)

    minutes = rec.of("1m")
    assert len(minutes) >= 90
    assert [b[1] for b in minutes] == [minutes[0][1] + i * MIN for i in range(len(minutes))], (
        "no gaps, in order"
    )
    seen: set[str] = set()
    for _, open_ms, candles in minutes:
        names = [c.symbol for c in candles]
        assert len(names) == len(set(names)), f"duplicate symbol in batch {open_ms}"
        assert seen <= set(names), f"a priced symbol is missing from batch {open_ms}"
        assert all(c.open_ms == open_ms and c.timeframe == "1m" for c in candles)
        assert names == [s for s in symbols if s in names], "batch follows the configured symbol order"
        seen |= set(names)
    assert book.late == 0


@pytest.mark.parametrize("seed", [4, 5])
def test_higher_timeframes_equal_resampled_1m_candles(seed):
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
    book, rec = make_book(symbols)
    random_session(seed, symbols, 185, book)

    one_minute: dict[str, list[Candle]] = {s: [] for s in symbols}
    for _, _, candles in rec.of("1m"):
        for c in candles:
            one_minute[c.symbol].append(c)
    for tf in ("5m", "15m", "1h"):
        emitted: dict[str, list[Candle]] = {s: [] for s in symbols}
        for _, open_ms, candles in rec.of(tf):
            assert open_ms % TIMEFRAME_MS[tf] == 0, f"{tf} batch not aligned"
            for c in candles:
                emitted[c.symbol].append(c)
        for sym in symbols:
            expected = resample(one_minute[sym], tf)
            assert len(emitted[sym]) == len(expected), f"{tf} {sym}: wrong number of candles"
            for got, want in zip(emitted[sym], expected, strict=True):
                assert got.open_ms == want.open_ms and got.trades == want.trades, f"{tf} {sym} {got.open_ms}"
                assert (got.open, got.high, got.low, got.close) == (
                    want.open,
                    want.high,
                    want.low,
                    want.close,
                )
                assert got.volume == pytest.approx(want.volume)
    assert len(rec.of("1h")) == 3


def test_a_higher_timeframe_batch_follows_the_1m_batch_that_completes_it():
    book, rec = make_book(("BTCUSDT",))
    book.add_trade("BTCUSDT", 100.0, 1.0, T0 + 1)

    book.close_due(T0 + 60 * MIN)

    order = [(tf, open_ms) for tf, open_ms, _ in rec.batches]
    assert order[-4:] == [("1m", T0 + 59 * MIN), ("5m", T0 + 55 * MIN), ("15m", T0 + 45 * MIN), ("1h", T0)]
    assert order.index(("5m", T0)) == order.index(("1m", T0 + 4 * MIN)) + 1


def test_late_trades_are_counted_and_never_reopen_a_candle():
    book, rec = make_book(("BTCUSDT", "ETHUSDT"))
    book.add_trade("BTCUSDT", 100.0, 1.0, T0 + 1)
    book.add_trade("ETHUSDT", 50.0, 1.0, T0 + 2)
    book.close_due(T0 + MIN)
    book.add_trade("ETHUSDT", 52.0, 1.0, T0 + MIN + 1)

    book.add_trade("BTCUSDT", 999.0, 1.0, T0 + 30_000)  # interval already emitted
    book.add_trade("ETHUSDT", 999.0, 1.0, T0 + 59_000)  # older than ETH's open candle
    book.close_due(T0 + 2 * MIN)

    assert book.late == 2
    first, second = rec.of("1m")
    assert by_symbol(first)["BTCUSDT"].high == 100.0
    assert by_symbol(second)["ETHUSDT"] == Candle("ETHUSDT", "1m", T0 + MIN, 52.0, 52.0, 52.0, 52.0, 1.0, 1)
    assert by_symbol(second)["BTCUSDT"].volume == 0.0, "the late trade did not open a new candle either"


def history(symbol: str, start_ms: int, minutes: int, price: float) -> list[Candle]:
    out = []
    for i in range(minutes):
        o = price + i
        out.append(Candle(symbol, "1m", start_ms + i * MIN, o, o + 2.0, o - 1.0, o + 1.0, 10.0, 5))
    return out


def test_seed_continues_live_candles_and_higher_timeframes():
    book, rec = make_book(("BTCUSDT", "ETHUSDT"))
    seeded = {"BTCUSDT": history("BTCUSDT", T0, 97, 100.0), "ETHUSDT": history("ETHUSDT", T0, 97, 10.0)}
    book.seed(seeded)  # ends with the candle of T0+96m; 1h periods: one complete, one 37 minutes in

    assert book.next_boundary_ms == T0 + 97 * MIN
    assert book.last_close("BTCUSDT") == 197.0
    assert [c.open_ms for c in book.recent("1h", "BTCUSDT", 10)] == [T0]
    assert book.recent("1h", "BTCUSDT", 1) == resample(seeded["BTCUSDT"], "1h")[:1]
    assert book.recent("15m", "BTCUSDT", 1)[0].open_ms == T0 + 75 * MIN, (
        "the open 15m period is not in recent"
    )

    book.add_trade("BTCUSDT", 300.0, 1.0, T0 + 96 * MIN + 59_000)  # before the seeded end: late
    for minute in range(97, 120):
        book.add_trade("BTCUSDT", 200.0 + minute, 1.0, T0 + minute * MIN + 1)
    book.close_due(T0 + 120 * MIN)

    assert book.late == 1
    assert rec.of("1m")[0][1] == T0 + 97 * MIN, "the first live boundary continues the history"
    eth_flat = by_symbol(rec.of("1m")[0])["ETHUSDT"]
    assert eth_flat == Candle("ETHUSDT", "1m", T0 + 97 * MIN, 107.0, 107.0, 107.0, 107.0, 0.0, 0), (
        "flat at seeded close"
    )
    (hour,) = rec.of("1h")
    live_1m = [c for _, _, cs in rec.of("1m") for c in cs if c.symbol == "BTCUSDT"]
    expected = resample(seeded["BTCUSDT"][60:] + live_1m, "1h")
    assert by_symbol(hour)["BTCUSDT"] == expected[0]
    assert by_symbol(hour)["BTCUSDT"].open == 160.0, "the hour opens with the seeded candle of T0+60m"


def test_seed_after_the_first_trade_is_refused():
    book, _ = make_book(("BTCUSDT",))
    book.add_trade("BTCUSDT", 100.0, 1.0, T0)
    with pytest.raises(RuntimeError):
        book.seed({"BTCUSDT": history("BTCUSDT", T0 - 10 * MIN, 10, 100.0)})


def test_recent_is_bounded_and_returns_the_newest_oldest_first():
    book, _ = make_book(("BTCUSDT",), history=20)
    book.add_trade("BTCUSDT", 100.0, 1.0, T0)
    book.close_due(T0 + 50 * MIN)

    assert len(book.recent("1m", "BTCUSDT", 1000)) == 20
    assert [c.open_ms for c in book.recent("1m", "BTCUSDT", 3)] == [
        T0 + 47 * MIN,
        T0 + 48 * MIN,
        T0 + 49 * MIN,
    ]
    assert book.recent("1m", "BTCUSDT", 0) == []


def test_parked_candles_stay_bounded_without_a_timer():
    book, rec = make_book(("BTCUSDT", "ETHUSDT"), max_pending=3)
    book.add_trade("ETHUSDT", 50.0, 1.0, T0)
    for minute in range(30):
        book.add_trade("BTCUSDT", 100.0 + minute, 1.0, T0 + minute * MIN)

    assert book.pending_boundaries <= 3
    minutes = rec.of("1m")
    assert [b[1] for b in minutes] == [T0 + i * MIN for i in range(len(minutes))]
    assert len(minutes) >= 26 and all(len(b[2]) == 2 for b in minutes)


def test_a_failing_consumer_does_not_corrupt_the_book():
    calls: list[int] = []

    def consumer(timeframe: str, open_ms: int, candles: list[Candle]) -> None:
        calls.append(open_ms)
        if len(calls) == 1:
            raise RuntimeError("consumer bug")

    book = CandleBook(("BTCUSDT",), on_close=consumer)
    book.add_trade("BTCUSDT", 100.0, 1.0, T0)
    with pytest.raises(RuntimeError):
        book.close_due(T0 + MIN)
    book.close_due(T0 + 2 * MIN)

    assert calls == [T0, T0 + MIN], "the failed boundary is not emitted twice, the next one follows"


def test_timeframes_must_start_with_1m():
    with pytest.raises(ValueError):
        CandleBook(("BTCUSDT",), timeframes=("5m", "1h"))
