"""Orders through the real connector: a bracket filled via the user stream, cancels of both kinds, lookups.

The sandbox and the connector share one ManualClock; the market moves only when a test steps it.
"""

from __future__ import annotations

import httpx
import pytest
from connector_support import connected, market_step, wait_for

from casino_tui.clock import ManualClock
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.model import OrderRequest, OrderStatus, OrderType, OrderUpdate, Side
from casino_tui.port import OrderNotFoundError, RejectedError

QTY = 0.002  # ~190 USDT of BTC: above the sandbox's MIN_NOTIONAL


async def _take_profit_near(exchange: BinanceExchange, client_id: str, qty: float, ticks: int) -> OrderUpdate:
    """A SELL take-profit a few ticks above the last price (re-aimed if the price jumped past it)."""
    tick = float((await exchange.symbol_rules())["BTCUSDT"].tick_size)
    for _ in range(5):
        last = (await exchange.tickers())["BTCUSDT"]
        request = OrderRequest(
            "BTCUSDT",
            Side.SELL,
            OrderType.TAKE_PROFIT_MARKET,
            qty,
            client_id,
            reduce_only=True,
            trigger_price=last + ticks * tick,
        )
        try:
            return await exchange.place_order(request)
        except RejectedError as exc:
            if exc.code != -2021:
                raise
    raise AssertionError("could not place a take-profit above the market")


async def test_bracket_entry_take_profit_and_stop_fill_through_the_user_stream() -> None:
    clock = ManualClock()
    async with connected(clock=clock) as (sandbox, exchange, rec):
        step = market_step(sandbox, clock)
        await wait_for(lambda: rec.trades, "first trades", step)

        entry = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, QTY, "br1-e"))
        assert entry.status is OrderStatus.FILLED and entry.filled_qty == QTY
        await wait_for(lambda: rec.order("br1-e", "FILLED"), "entry fill event")

        take_profit = await _take_profit_near(exchange, "br1-tp", QTY, ticks=3)
        stop = await exchange.place_order(
            OrderRequest(
                "BTCUSDT",
                Side.SELL,
                OrderType.STOP_MARKET,
                0.0,
                "br1-sl",
                close_position=True,
                trigger_price=entry.avg_price * 0.97,
            )
        )
        assert take_profit.is_conditional and stop.is_conditional
        assert take_profit.status is OrderStatus.NEW and stop.status is OrderStatus.NEW
        await wait_for(lambda: rec.order("br1-tp", "NEW") and rec.order("br1-sl", "NEW"), "both legs NEW")

        fill = await wait_for(lambda: rec.order("br1-tp", "FILLED"), "take-profit fill", step)
        assert fill.is_conditional and fill.order_id == take_profit.order_id
        assert fill.filled_qty == pytest.approx(QTY) and fill.avg_price > 0
        assert fill.type is OrderType.TAKE_PROFIT_MARKET
        assert await exchange.positions() == []

        # A close-position stop has nothing left to close: the exchange expires it, and a cancel finds nothing.
        await wait_for(lambda: rec.order("br1-sl", "EXPIRED"), "stop expired once flat")
        with pytest.raises(OrderNotFoundError):
            await exchange.cancel_order("BTCUSDT", "br1-sl", conditional=True)
        assert await exchange.open_orders() == []
        # Each leg is reported FILLED/CANCELED exactly once, however many events Binance sends for it.
        assert [u.status for u in rec.orders if u.client_id == "br1-tp"].count(OrderStatus.FILLED) == 1


async def test_cancel_plain_and_conditional_orders_and_cancel_again() -> None:
    clock = ManualClock()
    async with connected(clock=clock) as (sandbox, exchange, rec):
        await wait_for(lambda: rec.trades, "first trades", market_step(sandbox, clock))
        last = (await exchange.tickers())["BTCUSDT"]
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, QTY, "cx-e"))
        limit = await exchange.place_order(
            OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, QTY, "cx-limit", price=last * 0.9)
        )
        stop = await exchange.place_order(
            OrderRequest(
                "BTCUSDT",
                Side.SELL,
                OrderType.STOP_MARKET,
                QTY,
                "cx-sl",
                reduce_only=True,
                trigger_price=last * 0.9,
            )
        )
        assert limit.status is OrderStatus.NEW and stop.status is OrderStatus.NEW
        assert {u.client_id for u in await exchange.open_orders()} == {"cx-limit", "cx-sl"}
        assert {u.client_id for u in await exchange.open_orders("BTCUSDT")} == {"cx-limit", "cx-sl"}

        plain = await exchange.cancel_order("BTCUSDT", "cx-limit", conditional=False)
        algo = await exchange.cancel_order("BTCUSDT", "cx-sl", conditional=True)
        assert plain.status is OrderStatus.CANCELED and not plain.is_conditional
        assert algo.status is OrderStatus.CANCELED and algo.is_conditional and algo.order_id == stop.order_id
        assert await exchange.open_orders() == []

        with pytest.raises(OrderNotFoundError):
            await exchange.cancel_order("BTCUSDT", "cx-limit", conditional=False)
        with pytest.raises(OrderNotFoundError):
            await exchange.cancel_order("BTCUSDT", "cx-sl", conditional=True)


async def test_get_order_by_client_id_on_the_right_endpoint() -> None:
    clock = ManualClock()
    async with connected(clock=clock) as (sandbox, exchange, rec):
        await wait_for(lambda: rec.trades, "first trades", market_step(sandbox, clock))
        last = (await exchange.tickers())["BTCUSDT"]
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, QTY, "go-e"))
        await exchange.place_order(
            OrderRequest(
                "BTCUSDT",
                Side.SELL,
                OrderType.STOP_MARKET,
                0.0,
                "go-sl",
                close_position=True,
                trigger_price=last * 0.9,
            )
        )
        entry = await exchange.get_order("BTCUSDT", "go-e", conditional=False)
        stop = await exchange.get_order("BTCUSDT", "go-sl", conditional=True)
        assert entry is not None and entry.status is OrderStatus.FILLED and entry.filled_qty == QTY
        assert stop is not None and stop.status is OrderStatus.NEW and stop.close_position
        assert await exchange.get_order("BTCUSDT", "never-sent", conditional=False) is None
        assert await exchange.get_order("BTCUSDT", "never-sent", conditional=True) is None
        # A conditional id is not a plain order, and the other way round.
        assert await exchange.get_order("BTCUSDT", "go-sl", conditional=False) is None


async def test_account_reads_and_health() -> None:
    clock = ManualClock()
    async with connected(clock=clock) as (sandbox, exchange, rec):
        await wait_for(lambda: rec.trades, "first trades", market_step(sandbox, clock))
        await exchange.place_order(OrderRequest("ETHUSDT", Side.SELL, OrderType.MARKET, 0.05, "acct-e"))
        (position,) = await exchange.positions()
        assert (
            position.symbol == "ETHUSDT" and position.qty == pytest.approx(-0.05) and position.entry_price > 0
        )
        balance = await exchange.balance()
        assert balance.asset == "USDT" and 0 < balance.available <= balance.wallet
        candles = await exchange.klines("BTCUSDT", "1m", 30)
        assert len(candles) == 30 and all(c.open_ms + 60_000 <= clock.now_ms() for c in candles)
        assert [c.open_ms for c in candles] == sorted(c.open_ms for c in candles)
        permissions = await exchange.check_permissions()
        assert permissions.checked and not permissions.enable_withdrawals
        health = exchange.health()
        assert {b.name for b in health.breakers} == {"market", "account", "orders", "user_stream"}
        assert all(b.state == "CLOSED" for b in health.breakers)
        assert health.used_weight_1m > 0 and health.order_count_1m >= 1


async def test_permissions_report_a_withdrawal_capable_key() -> None:
    clock = ManualClock()
    async with connected(clock=clock) as (sandbox, exchange, _rec):
        async with httpx.AsyncClient(base_url=sandbox.base_url) as admin:
            answer = await admin.post("/__admin__/api_restrictions", json={"enableWithdrawals": True})
            assert answer.status_code == 200
        permissions = await exchange.check_permissions()
        assert permissions.checked and permissions.enable_withdrawals


async def test_klines_page_back_past_1500() -> None:
    clock = ManualClock()
    async with connected(clock=clock) as (_, exchange, _rec):
        candles = await exchange.klines("BTCUSDT", "1m", 2000)
        opens = [c.open_ms for c in candles]
        assert len(candles) == 2000
        assert all(b - a == 60_000 for a, b in zip(opens, opens[1:], strict=False))
