"""24-hour rolling statistics: `GET /fapi/v1/ticker/24hr` and the `@miniTicker` / `@ticker` stream payloads.

A symbol's day is its closed 1m candles of the last 24 hours, read from the sim's history the first time the
symbol is asked for and then extended by the market feed as each minute closes, plus the minute still open.
The sim keeps no quote volume, so it is volume times the candle's typical price (as in /fapi/v1/klines).
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

import msgspec

from casino_tui.model import Candle
from casino_tui.sandbox import intervals
from casino_tui.sandbox.endpoint import Call, Endpoint, Security
from casino_tui.sandbox.events import MiniTickerEvent, TickerEvent
from casino_tui.sandbox.numbers import SymbolFormat, plain

if TYPE_CHECKING:
    from casino_tui.sandbox.venue import Venue

DAY_MS = intervals.DAY_MS
MINUTES_PER_DAY = DAY_MS // intervals.MINUTE_MS


class DayStats(msgspec.Struct, frozen=True, kw_only=True):
    """One symbol's last 24 hours up to `close_time`."""

    symbol: str
    open: float
    high: float
    low: float
    close: float
    last_qty: float
    volume: float
    quote_volume: float
    trades: int
    open_time: int
    close_time: int
    last_trade_id: int

    @property
    def first_trade_id(self) -> int:
        return self.last_trade_id - self.trades + 1 if self.trades else -1

    def change_percent(self) -> str:
        return f"{(self.close - self.open) / self.open * 100:.3f}" if self.open else "0.000"

    def weighted_average(self, fmt: SymbolFormat) -> str:
        return fmt.price(self.quote_volume / self.volume) if self.volume else fmt.price(self.close)


class RollingDay:
    """The closed 1m candles of the last 24 hours of one symbol (bounded: one day of minutes)."""

    def __init__(self, candles: list[Candle]) -> None:
        self._minutes: collections.deque[Candle] = collections.deque(candles, maxlen=MINUTES_PER_DAY)

    def close_minute(self, candle: Candle) -> None:
        if not self._minutes or candle.open_ms > self._minutes[-1].open_ms:
            self._minutes.append(candle)

    def stats(
        self, symbol: str, now_ms: int, live: Candle | None, last: float, last_qty: float, last_id: int
    ) -> DayStats:
        start = now_ms - DAY_MS
        parts = [c for c in self._minutes if c.open_ms >= start]
        if live is not None and (not parts or live.open_ms > parts[-1].open_ms):
            parts.append(live)
        if not parts:
            return DayStats(
                symbol=symbol, open=last, high=last, low=last, close=last, last_qty=last_qty, volume=0.0,
                quote_volume=0.0, trades=0, open_time=start, close_time=now_ms, last_trade_id=last_id,
            )  # fmt: skip
        volume = sum(c.volume for c in parts)
        return DayStats(
            symbol=symbol,
            open=parts[0].open,
            high=max(c.high for c in parts),
            low=min(c.low for c in parts),
            close=last or parts[-1].close,
            last_qty=last_qty,
            volume=volume,
            quote_volume=sum(c.volume * (c.high + c.low + c.close) / 3.0 for c in parts),
            trades=sum(c.trades for c in parts),
            open_time=start,
            close_time=now_ms,
            last_trade_id=last_id,
        )


async def rolling_day(venue: Venue, symbol: str) -> RollingDay:
    """The symbol's day, read from the sim's 1m history on first use."""
    feed = venue.market_feed
    day = feed.days.get(symbol)
    if day is None:
        minute_open = intervals.open_time(venue.clock.now_ms(), "1m")
        history = await venue.sim.klines(symbol, "1m", MINUTES_PER_DAY, minute_open)
        closed = [c for c in history if c.open_ms + intervals.MINUTE_MS <= minute_open]
        day = feed.days.setdefault(symbol, RollingDay(closed))
    return day


def mini_ticker_event(stats: DayStats, fmt: SymbolFormat) -> MiniTickerEvent:
    return MiniTickerEvent(
        event_time=stats.close_time,
        symbol=stats.symbol,
        close=fmt.price(stats.close),
        open=fmt.price(stats.open),
        high=fmt.price(stats.high),
        low=fmt.price(stats.low),
        volume=fmt.qty(stats.volume),
        quote_volume=plain(round(stats.quote_volume, 8)),
    )


def ticker_event(stats: DayStats, fmt: SymbolFormat) -> TickerEvent:
    return TickerEvent(
        event_time=stats.close_time,
        symbol=stats.symbol,
        price_change=fmt.price(stats.close - stats.open),
        price_change_percent=stats.change_percent(),
        weighted_average=stats.weighted_average(fmt),
        last_price=fmt.price(stats.close),
        last_qty=fmt.qty(stats.last_qty),
        open=fmt.price(stats.open),
        high=fmt.price(stats.high),
        low=fmt.price(stats.low),
        volume=fmt.qty(stats.volume),
        quote_volume=plain(round(stats.quote_volume, 8)),
        open_time=stats.open_time,
        close_time=stats.close_time,
        first_trade_id=stats.first_trade_id,
        last_trade_id=stats.last_trade_id,
        trades=stats.trades,
    )


async def ticker_24hr(call: Call) -> object:
    """`GET /fapi/v1/ticker/24hr`: one symbol's statistics, or every symbol's as a list."""
    symbol = call.optional_symbol()
    venue = call.venue
    now = venue.server_ms()
    last_prices = await venue.sim.tickers()

    async def row(s: str) -> dict[str, object]:
        fmt = call.fmt(s)
        await rolling_day(venue, s)
        stats = venue.market_feed.day_stats(s, now, fallback_price=last_prices.get(s, 0.0))
        return {
            "symbol": s,
            "priceChange": fmt.price(stats.close - stats.open),
            "priceChangePercent": stats.change_percent(),
            "weightedAvgPrice": stats.weighted_average(fmt),
            "lastPrice": fmt.price(stats.close),
            "lastQty": fmt.qty(stats.last_qty),
            "openPrice": fmt.price(stats.open),
            "highPrice": fmt.price(stats.high),
            "lowPrice": fmt.price(stats.low),
            "volume": fmt.qty(stats.volume),
            "quoteVolume": plain(round(stats.quote_volume, 8)),
            "openTime": stats.open_time,
            "closeTime": stats.close_time,
            "firstId": stats.first_trade_id,
            "lastId": stats.last_trade_id,
            "count": stats.trades,
        }

    return await row(symbol) if symbol else [await row(s) for s in venue.formats]


ENDPOINTS = [Endpoint("GET", "/fapi/v1/ticker/24hr", Security.NONE, ticker_24hr)]
