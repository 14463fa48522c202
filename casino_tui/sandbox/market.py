"""Public market-data endpoints: ping, time, exchangeInfo, ticker/price, bookTicker, premiumIndex, klines, depth."""

from __future__ import annotations

from typing import Any

import msgspec

from casino_tui.model import TIMEFRAME_MS, Candle, SymbolRules
from casino_tui.sandbox import book, errors, intervals
from casino_tui.sandbox.endpoint import Call, Endpoint, Security
from casino_tui.sandbox.market_feed import FUNDING_RATE, next_funding_ms
from casino_tui.sandbox.numbers import SymbolFormat, plain
from casino_tui.sandbox.weights import RATE_LIMITS

MAX_KLINES = 1500
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
# PERCENT_PRICE as Binance lists it for the majors; the sandbox checks LIMIT prices against it.
PERCENT_UP = "1.0500"
PERCENT_DOWN = "0.9500"


class PriceFilter(msgspec.Struct, tag_field="filterType", tag="PRICE_FILTER", rename="camel"):
    min_price: str
    max_price: str
    tick_size: str


class LotSize(msgspec.Struct, tag_field="filterType", tag="LOT_SIZE", rename="camel"):
    min_qty: str
    max_qty: str
    step_size: str


class MarketLotSize(msgspec.Struct, tag_field="filterType", tag="MARKET_LOT_SIZE", rename="camel"):
    min_qty: str
    max_qty: str
    step_size: str


class MaxNumOrders(msgspec.Struct, tag_field="filterType", tag="MAX_NUM_ORDERS"):
    limit: int = 200


class MinNotional(msgspec.Struct, tag_field="filterType", tag="MIN_NOTIONAL"):
    notional: str


class PercentPrice(msgspec.Struct, tag_field="filterType", tag="PERCENT_PRICE", rename="camel"):
    multiplier_up: str = PERCENT_UP
    multiplier_down: str = PERCENT_DOWN
    multiplier_decimal: str = "4"


Filter = PriceFilter | LotSize | MarketLotSize | MaxNumOrders | MinNotional | PercentPrice


class SymbolInfo(msgspec.Struct, kw_only=True, rename="camel"):
    symbol: str
    pair: str
    contract_type: str
    delivery_date: int
    onboard_date: int
    status: str
    maint_margin_percent: str
    required_margin_percent: str
    base_asset: str
    quote_asset: str
    margin_asset: str
    price_precision: int
    quantity_precision: int
    base_asset_precision: int
    quote_precision: int
    underlying_type: str
    underlying_sub_type: list[str]
    settle_plan: int
    trigger_protect: str
    liquidation_fee: str
    market_take_bound: str
    max_move_order_limit: int
    filters: list[Filter]
    order_types: list[str]
    time_in_force: list[str]


class ExchangeInfo(msgspec.Struct, kw_only=True, rename="camel"):
    timezone: str
    server_time: int
    futures_type: str
    rate_limits: list[dict[str, Any]]
    exchange_filters: list[Any]
    assets: list[dict[str, Any]]
    symbols: list[SymbolInfo]


def symbol_info(rules: SymbolRules, fmt: SymbolFormat) -> SymbolInfo:
    base = rules.base_asset or rules.symbol.removesuffix(rules.quote_asset)
    return SymbolInfo(
        symbol=rules.symbol,
        pair=rules.symbol,
        contract_type="PERPETUAL",
        delivery_date=4_133_404_800_000,
        onboard_date=1_569_398_400_000,
        status=rules.status,
        maint_margin_percent="2.5000",
        required_margin_percent="5.0000",
        base_asset=base,
        quote_asset=rules.quote_asset,
        margin_asset=rules.quote_asset,
        price_precision=fmt.price_decimals,
        quantity_precision=fmt.qty_decimals,
        base_asset_precision=8,
        quote_precision=8,
        underlying_type="COIN",
        underlying_sub_type=[],
        settle_plan=0,
        trigger_protect="0.0500",
        liquidation_fee="0.012500",
        market_take_bound="0.05",
        max_move_order_limit=10000,
        filters=[
            PriceFilter(min_price=rules.min_price, max_price=rules.max_price, tick_size=rules.tick_size),
            LotSize(min_qty=rules.min_qty, max_qty=rules.max_qty, step_size=rules.step_size),
            MarketLotSize(
                min_qty=rules.min_qty,
                max_qty=rules.market_max_qty if float(rules.market_max_qty) else rules.max_qty,
                step_size=rules.step_size,
            ),
            MaxNumOrders(),
            MinNotional(notional=rules.min_notional),
            PercentPrice(),
        ],
        # What the sandbox accepts: conditional types only through /fapi/v1/algoOrder.
        order_types=["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"],
        time_in_force=["GTC", "GTX"],
    )


async def ping(call: Call) -> object:
    return {}


async def server_time(call: Call) -> object:
    return {"serverTime": call.venue.server_ms()}


async def exchange_info(call: Call) -> object:
    venue = call.venue
    return ExchangeInfo(
        timezone="UTC",
        server_time=venue.server_ms(),
        futures_type="U_MARGINED",
        rate_limits=list(RATE_LIMITS),
        exchange_filters=[],
        assets=[{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        symbols=[symbol_info(rules, venue.formats[s]) for s, rules in venue.rules.items()],
    )


async def last_prices(call: Call) -> dict[str, float]:
    """Last trade price per symbol: the feed's cache, completed by the sim for symbols not traded yet."""
    cached = call.venue.market_feed.last_price
    if len(cached) < len(call.venue.formats):
        return {**await call.venue.sim.tickers(), **cached}
    return cached


async def mark_price(call: Call, symbol: str) -> float:
    marks = call.venue.market_feed.mark_price
    return marks.get(symbol) or (await last_prices(call)).get(symbol, 0.0)


async def ticker_price(call: Call) -> object:
    symbol = call.optional_symbol()
    prices = await last_prices(call)
    now = call.venue.server_ms()

    def row(s: str) -> dict[str, object]:
        return {"symbol": s, "price": call.fmt(s).price(prices.get(s, 0.0)), "time": now}

    return row(symbol) if symbol else [row(s) for s in call.venue.formats]


async def book_ticker(call: Call) -> object:
    symbol = call.optional_symbol()
    prices = await last_prices(call)
    now = call.venue.server_ms()

    def row(s: str) -> dict[str, object]:
        fmt = call.fmt(s)
        bid, bid_qty, ask, ask_qty = book.best_bid_ask(fmt, prices.get(s, 0.0))
        return {
            "symbol": s,
            "bidPrice": fmt.price(bid),
            "bidQty": fmt.qty(bid_qty),
            "askPrice": fmt.price(ask),
            "askQty": fmt.qty(ask_qty),
            "time": now,
            "lastUpdateId": call.venue.market_feed.book_update_id(s),
        }

    return row(symbol) if symbol else [row(s) for s in call.venue.formats]


async def premium_index(call: Call) -> object:
    symbol = call.optional_symbol()
    now = call.venue.server_ms()

    async def row(s: str) -> dict[str, object]:
        mark = call.fmt(s).price(await mark_price(call, s))
        return {
            "symbol": s,
            "markPrice": mark,
            "indexPrice": mark,
            "estimatedSettlePrice": mark,
            "lastFundingRate": FUNDING_RATE,
            "interestRate": "0.00010000",
            "nextFundingTime": next_funding_ms(now),
            "time": now,
        }

    return await row(symbol) if symbol else [await row(s) for s in call.venue.formats]


async def depth(call: Call) -> object:
    symbol = call.symbol()
    limit = call.integer("limit", 500)
    if limit not in DEPTH_LIMITS:
        raise errors.illegal_param("limit")
    last = (await last_prices(call)).get(symbol, 0.0)
    bids, asks = book.depth(call.fmt(symbol), last, limit)
    now = call.venue.server_ms()
    update_id = call.venue.market_feed.book_update_id(symbol)
    return {"lastUpdateId": update_id, "E": now, "T": now, "bids": bids, "asks": asks}


def _base_timeframe(interval: str) -> str:
    """The largest sim timeframe that divides `interval` (the sim keeps 1m, 5m, 15m and 1h)."""
    length = intervals.INTERVAL_MS[interval]
    candidates = [tf for tf, ms in TIMEFRAME_MS.items() if length % ms == 0]
    return max(candidates, key=lambda tf: TIMEFRAME_MS[tf])


def _aggregate(candles: list[Candle], interval: str) -> list[Candle]:
    out: list[Candle] = []
    for c in candles:
        open_ms = intervals.open_time(c.open_ms, interval)
        if out and out[-1].open_ms == open_ms:
            last = out[-1]
            out[-1] = Candle(
                c.symbol,
                interval,
                open_ms,
                last.open,
                max(last.high, c.high),
                min(last.low, c.low),
                c.close,
                last.volume + c.volume,
                last.trades + c.trades,
                closed=c.closed,
            )
        else:
            out.append(
                Candle(
                    c.symbol, interval, open_ms, c.open, c.high, c.low, c.close, c.volume, c.trades, c.closed
                )
            )
    return out


def _kline_row(c: Candle, interval: str, fmt: SymbolFormat) -> list[object]:
    close_ms = c.open_ms + intervals.INTERVAL_MS[interval] - 1
    # The sim keeps no quote or taker volumes: the typical price and an even taker split stand in for them.
    quote = c.volume * (c.high + c.low + c.close) / 3.0
    return [
        c.open_ms,
        fmt.price(c.open),
        fmt.price(c.high),
        fmt.price(c.low),
        fmt.price(c.close),
        fmt.qty(c.volume),
        close_ms,
        plain(round(quote, 8)),
        c.trades,
        fmt.qty(c.volume / 2.0),
        plain(round(quote / 2.0, 8)),
        "0",
    ]


async def klines(call: Call) -> object:
    """Candles oldest first; like Binance, the last row is the candle still open (unless endTime is earlier)."""
    symbol = call.symbol()
    interval = call.text("interval")
    if interval not in intervals.INTERVAL_MS:
        raise errors.ApiError(-1120, "Invalid interval.")
    limit = call.integer("limit", 500)
    if not 1 <= limit <= MAX_KLINES:
        raise errors.illegal_param("limit")
    start = call.optional_int("startTime")
    end = call.optional_int("endTime")
    venue = call.venue
    now = venue.clock.now_ms()
    length = intervals.INTERVAL_MS[interval]
    if start is not None and end is None:
        end = start + limit * length - 1
    current_open = intervals.open_time(now, interval)
    upto = min(end + 1, current_open) if end is not None else current_open
    base = _base_timeframe(interval)
    per = length // TIMEFRAME_MS[base]
    candles = await venue.sim.klines(symbol, base, (limit + 1) * per, upto)
    rows = [c for c in _aggregate(candles, interval) if c.open_ms + length <= upto]
    if end is None or end >= current_open:
        rows.append(await _open_candle(call, symbol, interval, current_open, now))
    if start is not None:
        rows = [c for c in rows if c.open_ms >= start]
        rows = rows[:limit]
    else:
        rows = rows[-limit:]
    fmt = call.fmt(symbol)
    return [_kline_row(c, interval, fmt) for c in rows]


async def _open_candle(call: Call, symbol: str, interval: str, open_ms: int, now: int) -> Candle:
    """The candle of `interval` still open at `now`: closed 1m candles since it opened plus the live minute."""
    venue = call.venue
    minute_open = intervals.open_time(now, "1m")
    minutes = (minute_open - open_ms) // intervals.MINUTE_MS
    parts = await venue.sim.klines(symbol, "1m", minutes, minute_open) if minutes > 0 else []
    parts = [c for c in parts if c.open_ms >= open_ms]
    live = venue.market_feed.open_minute(symbol, minute_open)
    if live is not None:
        parts.append(live)
    if not parts:
        price = (await last_prices(call)).get(symbol, 0.0)
        return Candle(symbol, interval, open_ms, price, price, price, price, 0.0, 0, closed=False)
    return Candle(
        symbol,
        interval,
        open_ms,
        parts[0].open,
        max(c.high for c in parts),
        min(c.low for c in parts),
        parts[-1].close,
        round(sum(c.volume for c in parts), 8),
        sum(c.trades for c in parts),
        closed=False,
    )


ENDPOINTS = [
    Endpoint("GET", "/fapi/v1/ping", Security.NONE, ping),
    Endpoint("GET", "/fapi/v1/time", Security.NONE, server_time),
    Endpoint("GET", "/fapi/v1/exchangeInfo", Security.NONE, exchange_info),
    Endpoint("GET", "/fapi/v1/ticker/price", Security.NONE, ticker_price),
    Endpoint("GET", "/fapi/v2/ticker/price", Security.NONE, ticker_price),
    Endpoint("GET", "/fapi/v1/ticker/bookTicker", Security.NONE, book_ticker),
    Endpoint("GET", "/fapi/v1/premiumIndex", Security.NONE, premium_index),
    Endpoint("GET", "/fapi/v1/klines", Security.NONE, klines),
    Endpoint("GET", "/fapi/v1/depth", Security.NONE, depth),
]
