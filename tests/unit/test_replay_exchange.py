"""The replay exchange on its own: warm-up history from the data's first bars (never finer than the data),
feeding that hands over at the trade that moved our order, and finished orders bounded on long replays."""

from __future__ import annotations

from pathlib import Path

import pytest
from binance_data_files import T0, agg_row, write_csv
from replay_support import MINUTE, klines_file, random_walk_bars

from casino_tui.clock import ManualClock, ReplayClock
from casino_tui.config import SimConfig
from casino_tui.exchange.replay.exchange import FeedStop, ReplayExchange
from casino_tui.exchange.replay.recorder import MarketRecorder
from casino_tui.exchange.replay.sources import open_source
from casino_tui.exchange.sim.market import SIM_SYMBOLS
from casino_tui.exchange.sim.matching import MatchingEngine
from casino_tui.model import OrderRequest, OrderStatus, OrderType, Side, Trade
from casino_tui.port import OrderNotFoundError


def exchange_over(files: list[Path], warmup: int) -> ReplayExchange:
    source = open_source(files)
    return ReplayExchange(
        source, SimConfig(slippage_bps=0.0), ReplayClock(source.start_ms), warmup_bars=warmup
    )


async def test_the_warm_up_serves_whole_candles_of_the_first_bars_and_nothing_finer_than_the_data(
    tmp_path: Path,
) -> None:
    bars = random_walk_bars(5, 20)
    exchange = exchange_over([klines_file(tmp_path, "AAAUSDT", bars, minutes=5)], warmup=12)

    cut = await exchange.warm_up()

    assert cut == T0 + 12 * 5 * MINUTE and exchange.clock.now_ms() == cut
    assert await exchange.klines("AAAUSDT", "1m", 300) == []  # finer than the 5m bars: not made up
    fives = await exchange.klines("AAAUSDT", "5m", 300)
    assert [(c.open, c.high, c.low, c.close) for c in fives] == bars[:12]
    quarters = await exchange.klines("AAAUSDT", "15m", 300)
    assert [(c.open_ms, c.open, c.close) for c in quarters] == [
        (T0 + k * 15 * MINUTE, bars[3 * k][0], bars[3 * k + 2][3]) for k in range(4)
    ]
    assert quarters[0].high == max(b[1] for b in bars[:3]) and quarters[0].low == min(b[2] for b in bars[:3])


async def test_feeding_hands_over_at_the_trade_that_fills_our_stop_with_the_clock_at_that_trade(
    tmp_path: Path,
) -> None:
    prices = ["100.0"] * 60 + [
        "99.5",
        "98.9",
        "98.0",
        "97.0",
    ]  # a trade a second; the drop comes after a minute
    rows = [agg_row(i, price, "1.000", T0 + i * 1000) for i, price in enumerate(prices)]
    exchange = exchange_over([write_csv(tmp_path / "AAAUSDT-aggTrades-2024-01-01.csv", rows)], warmup=1)
    await exchange.warm_up()
    await exchange.place_order(OrderRequest("AAAUSDT", Side.BUY, OrderType.MARKET, 1.0, "entry"))
    stop = OrderRequest(
        "AAAUSDT", Side.SELL, OrderType.STOP_MARKET, 0.0, "stop", close_position=True, trigger_price=99.0
    )
    await exchange.place_order(stop)
    exchange.flush_events()

    assert exchange.feed(T0 + 10 * MINUTE) is FeedStop.EVENT

    assert exchange.clock.now_ms() == T0 + 61_000  # the 98.9 trade, not the end of the window
    order = await exchange.get_order("AAAUSDT", "stop", conditional=True)
    assert order is not None and order.status is OrderStatus.FILLED and order.avg_price == 98.9
    assert exchange.feed(T0 + 10 * MINUTE) is FeedStop.END and exchange.is_exhausted


def test_a_bounded_matching_engine_keeps_only_the_newest_finished_orders() -> None:
    matching = MatchingEngine(
        {"BTCUSDT": SIM_SYMBOLS["BTCUSDT"]}, 100_000.0, 0.0004, 0.0, ManualClock(), finished_kept=2
    )
    matching.set_last_price("BTCUSDT", 50_000.0)
    for n in range(3):
        side = Side.BUY if n % 2 == 0 else Side.SELL
        matching.place(OrderRequest("BTCUSDT", side, OrderType.MARKET, 0.01, f"order-{n}"))

    with pytest.raises(OrderNotFoundError):
        matching.get_order("BTCUSDT", "order-0", conditional=False)
    newest = [matching.get_order("BTCUSDT", f"order-{n}", conditional=False).status for n in (1, 2)]
    assert newest == [OrderStatus.FILLED, OrderStatus.FILLED]


class MarkLog:
    """A market sink that keeps the marks it is given."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, int]] = []

    def on_trade(self, trade: Trade) -> None:
        pass

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.marks.append((symbol, price, ts_ms))

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        pass


async def test_a_recordings_own_mark_prices_reach_the_engine_instead_of_last_trade_marks(
    tmp_path: Path,
) -> None:
    recorder = MarketRecorder(
        tmp_path / "run.rec", exchange="sim", symbols=["BTCUSDT"], rules={"BTCUSDT": SIM_SYMBOLS["BTCUSDT"]}
    )
    for second in range(150):
        recorder.record_trade(Trade("BTCUSDT", 50_000.0 + second, 0.01, T0 + second * 1000))
        recorder.record_mark("BTCUSDT", 49_990.0 + second, T0 + second * 1000 + 500)
    recorder.close()
    exchange = exchange_over([tmp_path / "run.rec"], warmup=1)
    sink = MarkLog()
    exchange.set_sinks(sink, UserLog())
    await exchange.warm_up()

    exchange.feed(T0 + 62_000)
    exchange.publish_marks(T0 + 62_000)

    assert sink.marks == [("BTCUSDT", 49_990.0 + 60, T0 + 60_500), ("BTCUSDT", 49_990.0 + 61, T0 + 61_500)]
    assert exchange.matching.mark_price("BTCUSDT") == 49_990.0 + 61


class UserLog:
    def on_order_update(self, update: object) -> None:
        pass

    def on_account_update(self, update: object) -> None:
        pass
