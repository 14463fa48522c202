"""The candle still open for one symbol and interval, built trade by trade, and its kline stream frames."""

from __future__ import annotations

from casino_tui.model import Candle, Trade
from casino_tui.sandbox import intervals
from casino_tui.sandbox.events import ContinuousKlineBody, ContinuousKlineEvent, KlineBody, KlineEvent
from casino_tui.sandbox.numbers import SymbolFormat, plain

KLINE_PUSH_MS = 250


class LiveKline:
    """The open candle of one symbol and interval, built from the trades streamed since it was subscribed."""

    __slots__ = (
        "interval",
        "open_ms",
        "close_ms",
        "o",
        "h",
        "l",
        "c",
        "v",
        "q",
        "n",
        "tv",
        "tq",
        "f",
        "last_id",
        "pushed_ms",
    )

    def __init__(self, interval: str, ts_ms: int) -> None:
        self.interval = interval
        self.pushed_ms = -KLINE_PUSH_MS
        self.reset(ts_ms, 0.0)

    def reset(self, ts_ms: int, price: float) -> None:
        self.open_ms = intervals.open_time(ts_ms, self.interval)
        self.close_ms = self.open_ms + intervals.INTERVAL_MS[self.interval] - 1
        self.o = self.h = self.l = self.c = price
        self.v = self.q = self.tv = self.tq = 0.0
        self.n = 0
        self.f = self.last_id = -1

    def add(self, trade: Trade, trade_id: int) -> None:
        if self.n == 0:
            self.o = self.h = self.l = trade.price
            self.f = trade_id
        self.h = max(self.h, trade.price)
        self.l = min(self.l, trade.price)
        self.c = trade.price
        self.v += trade.qty
        self.q += trade.qty * trade.price
        if not trade.buyer_is_maker:  # the buyer took liquidity
            self.tv += trade.qty
            self.tq += trade.qty * trade.price
        self.n += 1
        self.last_id = trade_id

    def candle(self, symbol: str) -> Candle:
        return Candle(
            symbol,
            self.interval,
            self.open_ms,
            self.o,
            self.h,
            self.l,
            self.c,
            round(self.v, 8),
            self.n,
            False,
        )

    def event(self, symbol: str, ts_ms: int, fmt: SymbolFormat, closed: bool) -> KlineEvent:
        """`<symbol>@kline_<interval>`."""
        body = KlineBody(
            open_time=self.open_ms,
            close_time=self.close_ms,
            symbol=symbol,
            interval=self.interval,
            first_trade_id=self.f,
            last_trade_id=self.last_id,
            open=fmt.price(self.o),
            close=fmt.price(self.c),
            high=fmt.price(self.h),
            low=fmt.price(self.l),
            volume=fmt.qty(self.v),
            trades=self.n,
            is_closed=closed,
            quote_volume=plain(round(self.q, 8)),
            taker_buy_volume=fmt.qty(self.tv),
            taker_buy_quote_volume=plain(round(self.tq, 8)),
        )
        return KlineEvent(event_time=ts_ms, symbol=symbol, kline=body)

    def continuous_event(
        self, pair: str, ts_ms: int, fmt: SymbolFormat, closed: bool
    ) -> ContinuousKlineEvent:
        """`<pair>_perpetual@continuousKline_<interval>`: the same candle, keyed by pair and contract type."""
        body = ContinuousKlineBody(
            open_time=self.open_ms,
            close_time=self.close_ms,
            interval=self.interval,
            first_trade_id=self.f,
            last_trade_id=self.last_id,
            open=fmt.price(self.o),
            close=fmt.price(self.c),
            high=fmt.price(self.h),
            low=fmt.price(self.l),
            volume=fmt.qty(self.v),
            trades=self.n,
            is_closed=closed,
            quote_volume=plain(round(self.q, 8)),
            taker_buy_volume=fmt.qty(self.tv),
            taker_buy_quote_volume=plain(round(self.tq, 8)),
        )
        return ContinuousKlineEvent(event_time=ts_ms, pair=pair, kline=body)
