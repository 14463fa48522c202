"""The sim matching engine: fills, fees, PnL, reduce-only, conditional triggers, validation codes, events."""

from __future__ import annotations

import pytest

from casino_tui.clock import ManualClock
from casino_tui.exchange.sim.market import SIM_SYMBOLS
from casino_tui.exchange.sim.matching import MatchingEngine, MatchingEvent
from casino_tui.model import AccountUpdate, OrderRequest, OrderStatus, OrderType, OrderUpdate, Side, Trade
from casino_tui.port import OrderNotFoundError, RejectedError

FEE = 0.0004


class Harness:
    """A matching engine at BTC 100000 / ETH 3000 with 1 bp slippage, recording its events."""

    def __init__(self, slippage_bps: float = 1.0, balance: float = 10_000.0) -> None:
        self.clock = ManualClock()
        self.engine = MatchingEngine(SIM_SYMBOLS, balance, FEE, slippage_bps, self.clock, leverage=5)
        self.events: list[MatchingEvent] = []
        self.engine.listeners.append(self.events.append)
        self.price("BTCUSDT", 100_000.0)
        self.price("ETHUSDT", 3_000.0)

    def price(self, symbol: str, price: float) -> None:
        """A public trade at `price` (moves last and mark, may trigger resting orders)."""
        self.clock.advance(100)
        self.engine.set_mark_price(symbol, price)
        self.engine.on_trade(Trade(symbol, price, 0.01, self.clock.now_ms()))

    def market(self, side: Side, qty: float, cid: str, symbol: str = "BTCUSDT", **kw: object) -> OrderUpdate:
        return self.engine.place(OrderRequest(symbol, side, OrderType.MARKET, qty, cid, **kw))  # type: ignore[arg-type]

    def conditional(
        self, kind: OrderType, side: Side, trigger: float, cid: str, qty: float = 0.0, **kw: object
    ) -> OrderUpdate:
        request = OrderRequest("BTCUSDT", side, kind, qty, cid, trigger_price=trigger, **kw)  # type: ignore[arg-type]
        return self.engine.place(request)

    def orders(self) -> list[tuple[str, OrderStatus]]:
        return [(e.client_id, e.status) for e in self.events if isinstance(e, OrderUpdate)]


@pytest.fixture
def h() -> Harness:
    return Harness()


def rejected_code(call: object, *args: object) -> int:
    with pytest.raises(RejectedError) as info:
        call(*args)  # type: ignore[operator]
    return info.value.code


def test_market_buy_fills_above_last_by_the_slippage_and_pays_the_taker_fee(h: Harness) -> None:
    fill = h.market(Side.BUY, 0.01, "b1")
    assert fill.status is OrderStatus.FILLED and fill.filled_qty == 0.01
    assert fill.avg_price == fill.last_price == 100_010.0  # 100000 * (1 + 1 bp)
    assert fill.fee == pytest.approx(0.01 * 100_010.0 * FEE)
    assert h.engine.wallet == pytest.approx(10_000.0 - fill.fee)
    assert h.engine.position("BTCUSDT").qty == 0.01 and h.engine.position("BTCUSDT").entry_price == 100_010.0


def test_market_sell_fills_below_last(h: Harness) -> None:
    assert h.market(Side.SELL, 0.01, "s1").avg_price == 99_990.0


def test_taker_price_rounds_to_the_tick_against_the_taker() -> None:
    h = Harness(slippage_bps=0.37)
    assert h.market(Side.BUY, 0.01, "b").avg_price == 100_003.7
    h.price("ETHUSDT", 3_000.01)
    assert h.market(Side.SELL, 0.01, "s", symbol="ETHUSDT").avg_price == 2_999.89  # 2999.899 rounded down


def test_realised_pnl_of_a_long_round_trip() -> None:
    h = Harness(slippage_bps=0.0)
    entry = h.market(Side.BUY, 0.02, "open")
    h.price("BTCUSDT", 101_000.0)
    close = h.market(Side.SELL, 0.02, "close")
    assert close.realized_pnl == pytest.approx(0.02 * 1_000.0)
    assert h.engine.positions() == []
    assert h.engine.wallet == pytest.approx(10_000.0 + 20.0 - entry.fee - close.fee)


def test_realised_pnl_of_a_short_round_trip_in_two_reductions() -> None:
    h = Harness(slippage_bps=0.0)
    h.market(Side.SELL, 1.0, "open", symbol="ETHUSDT")
    h.price("ETHUSDT", 2_900.0)
    first = h.market(Side.BUY, 0.4, "half", symbol="ETHUSDT")
    h.price("ETHUSDT", 3_100.0)
    second = h.market(Side.BUY, 0.6, "rest", symbol="ETHUSDT")
    assert first.realized_pnl == pytest.approx(0.4 * 100.0)
    assert second.realized_pnl == pytest.approx(0.6 * -100.0)
    assert h.engine.position("ETHUSDT").qty == 0.0


def test_adding_to_a_position_averages_the_entry_and_flipping_reopens_at_the_fill() -> None:
    h = Harness(slippage_bps=0.0)
    h.market(Side.BUY, 0.01, "a")
    h.price("BTCUSDT", 102_000.0)
    h.market(Side.BUY, 0.01, "b")
    assert h.engine.position("BTCUSDT").entry_price == pytest.approx(101_000.0)
    h.price("BTCUSDT", 103_000.0)
    flip = h.market(Side.SELL, 0.03, "flip")
    assert flip.realized_pnl == pytest.approx(0.02 * 2_000.0)
    assert (h.engine.position("BTCUSDT").qty, h.engine.position("BTCUSDT").entry_price) == (-0.01, 103_000.0)


def test_reduce_only_is_clipped_to_the_position(h: Harness) -> None:
    h.market(Side.BUY, 0.01, "open")
    close = h.market(Side.SELL, 0.05, "close", reduce_only=True)
    assert close.filled_qty == 0.01 and h.engine.positions() == []


def test_reduce_only_that_would_open_or_increase_is_rejected(h: Harness) -> None:
    assert rejected_code(lambda: h.market(Side.SELL, 0.01, "r1", reduce_only=True)) == -2022
    h.market(Side.BUY, 0.01, "open")
    assert rejected_code(lambda: h.market(Side.BUY, 0.01, "r2", reduce_only=True)) == -2022
    assert h.engine.position("BTCUSDT").qty == 0.01


def test_event_order_for_a_filled_market_order(h: Harness) -> None:
    h.market(Side.BUY, 0.01, "e1")
    assert [(type(e).__name__, getattr(e, "status", None)) for e in h.events] == [
        ("OrderUpdate", OrderStatus.NEW),
        ("OrderUpdate", OrderStatus.FILLED),
        ("AccountUpdate", None),
    ]
    filled, account = h.events[1], h.events[2]
    assert isinstance(filled, OrderUpdate) and isinstance(account, AccountUpdate)
    assert (filled.last_qty, filled.last_price, filled.fee) == (0.01, 100_010.0, pytest.approx(0.40004))
    assert account.reason == "ORDER" and account.positions[0].qty == 0.01
    assert account.balances[0].wallet == pytest.approx(h.engine.wallet)


@pytest.mark.parametrize(
    ("kind", "side", "trigger", "quiet", "reach"),
    [
        (OrderType.STOP_MARKET, Side.SELL, 99_000.0, 99_100.0, 98_990.0),
        (OrderType.STOP_MARKET, Side.BUY, 101_000.0, 100_900.0, 101_000.0),
        (OrderType.TAKE_PROFIT_MARKET, Side.SELL, 101_000.0, 100_900.0, 101_050.0),
        (OrderType.TAKE_PROFIT_MARKET, Side.BUY, 99_000.0, 99_100.0, 99_000.0),
    ],
)
def test_conditional_triggers_on_its_side_and_fills_as_market(
    h: Harness, kind: OrderType, side: Side, trigger: float, quiet: float, reach: float
) -> None:
    h.conditional(kind, side, trigger, "c1", qty=0.01)
    h.price("BTCUSDT", quiet)
    assert h.orders() == [("c1", OrderStatus.NEW)]
    h.price("BTCUSDT", reach)
    assert h.orders() == [("c1", OrderStatus.NEW), ("c1", OrderStatus.TRIGGERED), ("c1", OrderStatus.FILLED)]
    filled = h.events[-2]
    assert isinstance(filled, OrderUpdate) and filled.is_conditional and filled.filled_qty == 0.01
    assert filled.avg_price == pytest.approx(reach * (1 + side.sign * 1e-4), abs=0.1)
    assert isinstance(h.events[-1], AccountUpdate)
    assert h.engine.position("BTCUSDT").qty == 0.01 * side.sign
    assert h.engine.open_orders() == []


def test_conditional_that_would_trigger_at_once_is_rejected(h: Harness) -> None:
    assert rejected_code(h.conditional, OrderType.STOP_MARKET, Side.SELL, 100_500.0, "x", 0.01) == -2021
    assert rejected_code(h.conditional, OrderType.TAKE_PROFIT_MARKET, Side.SELL, 99_500.0, "y", 0.01) == -2021
    assert h.events == []


def test_close_position_orders_expire_when_the_position_goes_flat(h: Harness) -> None:
    h.market(Side.BUY, 0.01, "entry")
    h.conditional(OrderType.STOP_MARKET, Side.SELL, 98_000.0, "sl", close_position=True)
    h.conditional(OrderType.TAKE_PROFIT_MARKET, Side.SELL, 102_000.0, "tp", close_position=True)
    h.market(Side.SELL, 0.01, "manual-exit", reduce_only=True)
    assert h.orders()[-3:] == [
        ("manual-exit", OrderStatus.FILLED),
        ("sl", OrderStatus.EXPIRED),
        ("tp", OrderStatus.EXPIRED),
    ]
    assert h.engine.open_orders() == []
    assert h.engine.get_order("BTCUSDT", "tp", conditional=True).status is OrderStatus.EXPIRED


def test_bracket_stop_closes_the_whole_position_and_expires_the_take_profit(h: Harness) -> None:
    h.market(Side.BUY, 0.03, "entry")
    h.conditional(OrderType.STOP_MARKET, Side.SELL, 99_000.0, "sl", close_position=True)
    h.conditional(OrderType.TAKE_PROFIT_MARKET, Side.SELL, 101_000.0, "tp", close_position=True)
    h.price("BTCUSDT", 98_950.0)
    assert h.orders()[-3:] == [
        ("sl", OrderStatus.TRIGGERED),
        ("sl", OrderStatus.FILLED),
        ("tp", OrderStatus.EXPIRED),
    ]
    stop = h.engine.get_order("BTCUSDT", "sl", conditional=True)
    assert stop.filled_qty == 0.03 and stop.realized_pnl < 0
    assert h.engine.positions() == [] and "BTCUSDT" not in h.engine.watched_symbols


def test_reduce_only_conditional_with_nothing_to_reduce_expires_on_trigger(h: Harness) -> None:
    h.conditional(OrderType.STOP_MARKET, Side.SELL, 99_000.0, "ro", qty=0.01, reduce_only=True)
    h.price("BTCUSDT", 98_000.0)
    assert h.orders() == [("ro", OrderStatus.NEW), ("ro", OrderStatus.TRIGGERED), ("ro", OrderStatus.EXPIRED)]
    assert h.engine.positions() == []


def test_min_notional_is_enforced_except_for_reduce_only(h: Harness) -> None:
    assert rejected_code(h.market, Side.BUY, 0.0, "zero") == -4003
    h.price("BTCUSDT", 99_000.0)
    assert rejected_code(h.market, Side.BUY, 0.001, "tiny") == -4164  # 99 USDT at the mark, minimum is 100
    h.market(Side.BUY, 0.002, "ok")
    assert h.market(Side.SELL, 0.001, "dust", reduce_only=True).status is OrderStatus.FILLED


def test_quantities_and_prices_off_the_grid_are_rejected_for_precision(h: Harness) -> None:
    assert rejected_code(h.market, Side.BUY, 0.0105, "q") == -1111
    assert rejected_code(h.conditional, OrderType.STOP_MARKET, Side.SELL, 99_000.05, "p", 0.01) == -1111
    assert rejected_code(h.market, Side.BUY, 200.0, "big") == -4005  # above MARKET_LOT_SIZE maxQty 120


def test_duplicate_client_id_is_rejected_only_while_the_order_is_open(h: Harness) -> None:
    h.conditional(OrderType.STOP_MARKET, Side.SELL, 99_000.0, "dup", qty=0.01)
    assert rejected_code(h.conditional, OrderType.STOP_MARKET, Side.SELL, 98_000.0, "dup", 0.01) == -4116
    h.market(Side.BUY, 0.01, "m1")
    assert h.market(Side.BUY, 0.01, "m1").status is OrderStatus.FILLED  # a filled order's id may be reused
    assert rejected_code(h.market, Side.BUY, 0.01, "bad id with spaces") == -4015


def test_insufficient_margin_is_rejected(h: Harness) -> None:
    assert rejected_code(h.market, Side.BUY, 0.6, "huge") == -2019  # 60k notional at 5x needs 12k margin
    h.market(Side.BUY, 0.4, "fits")
    assert rejected_code(h.market, Side.BUY, 0.1, "more") == -2019
    assert h.market(Side.SELL, 0.4, "reduce").status is OrderStatus.FILLED  # reducing needs no margin


def test_cancel_and_query_of_unknown_orders_use_binance_codes(h: Harness) -> None:
    with pytest.raises(OrderNotFoundError) as cancel:
        h.engine.cancel("BTCUSDT", "nope", conditional=True)
    assert cancel.value.code == -2011
    with pytest.raises(OrderNotFoundError) as query:
        h.engine.get_order("BTCUSDT", "nope", conditional=False)
    assert query.value.code == -2013
    h.conditional(OrderType.STOP_MARKET, Side.SELL, 99_000.0, "sl", qty=0.01)
    assert h.engine.cancel("BTCUSDT", "sl", conditional=True).status is OrderStatus.CANCELED
    assert h.orders()[-1] == ("sl", OrderStatus.CANCELED)
    with pytest.raises(OrderNotFoundError):
        h.engine.cancel("BTCUSDT", "sl", conditional=True)
    with pytest.raises(OrderNotFoundError):
        h.engine.get_order("BTCUSDT", "sl", conditional=False)  # conditional ids live apart from plain ones


def test_unrealised_pnl_and_available_balance_follow_the_mark() -> None:
    h = Harness(slippage_bps=0.0)
    entry = h.market(Side.SELL, 0.1, "short")
    h.price("BTCUSDT", 98_000.0)
    position = h.engine.positions()[0]
    assert position.unrealized_pnl == pytest.approx(0.1 * 2_000.0) and position.mark_price == 98_000.0
    balance = h.engine.balance()
    assert balance.wallet == pytest.approx(10_000.0 - entry.fee)
    assert balance.available == pytest.approx(balance.wallet + 200.0 - 0.1 * 98_000.0 / 5)
    assert balance.equity == pytest.approx(balance.wallet + 200.0)


def test_limit_order_rests_then_fills_at_its_price_with_the_maker_fee(h: Harness) -> None:
    request = OrderRequest("ETHUSDT", Side.BUY, OrderType.LIMIT, 0.5, "lim", price=2_950.0)
    assert h.engine.place(request).status is OrderStatus.NEW
    assert [o.client_id for o in h.engine.open_orders("ETHUSDT")] == ["lim"]
    h.price("ETHUSDT", 2_960.0)
    assert h.engine.position("ETHUSDT").qty == 0.0
    h.price("ETHUSDT", 2_949.0)
    filled = h.engine.get_order("ETHUSDT", "lim", conditional=False)
    assert filled.status is OrderStatus.FILLED and filled.avg_price == 2_950.0
    assert filled.fee == pytest.approx(0.5 * 2_950.0 * FEE / 2)


def test_open_orders_list_plain_and_conditional_orders_together(h: Harness) -> None:
    h.engine.place(OrderRequest("ETHUSDT", Side.SELL, OrderType.LIMIT, 0.1, "l1", price=3_200.0))
    h.conditional(OrderType.STOP_MARKET, Side.SELL, 99_000.0, "c1", qty=0.01)
    listed = {(o.symbol, o.client_id, o.is_conditional) for o in h.engine.open_orders()}
    assert listed == {("ETHUSDT", "l1", False), ("BTCUSDT", "c1", True)}
    assert [o.client_id for o in h.engine.open_orders("BTCUSDT")] == ["c1"]


def test_symbols_without_resting_orders_are_not_watched(h: Harness) -> None:
    assert not h.engine.watched_symbols
    h.conditional(OrderType.STOP_MARKET, Side.SELL, 99_000.0, "w", qty=0.01)
    assert set(h.engine.watched_symbols) == {"BTCUSDT"}
    h.engine.cancel("BTCUSDT", "w", conditional=True)
    assert not h.engine.watched_symbols


def test_injected_position_is_silent_unless_asked(h: Harness) -> None:
    h.engine.inject_position("ETHUSDT", -2.0, 3_100.0)
    assert h.events == []
    assert h.engine.position("ETHUSDT").unrealized_pnl == pytest.approx(200.0)
    h.engine.inject_position("ETHUSDT", 0.0, 0.0, notify=True)
    assert isinstance(h.events[-1], AccountUpdate) and h.events[-1].reason == "ADJUSTMENT"
    assert h.engine.positions() == []


def test_market_order_without_any_price_is_rejected() -> None:
    engine = MatchingEngine(SIM_SYMBOLS, 1_000.0, FEE, 1.0, ManualClock())
    with pytest.raises(RejectedError) as info:
        engine.place(OrderRequest("ADAUSDT", Side.BUY, OrderType.MARKET, 10.0, "blind"))
    assert info.value.code == -4131 and engine.positions() == []
