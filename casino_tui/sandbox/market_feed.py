"""Market streams: the sim's trades and marks, encoded as Binance frames for the connections subscribed.

Registered with the sim as its MarketSink. Per trade: one dict lookup when nobody listens to the symbol;
otherwise one encode per stream, shared by every subscriber. Supported streams: `<sym>@aggTrade`,
`<sym>@markPrice` (3 s) and `<sym>@markPrice@1s`, `<sym>@kline_<interval>` (every 250 ms, plus the closed
candle when the next interval's first trade arrives), `<sym>@bookTicker` (a synthetic top of book), and
`<sym>@trade` (undocumented for USD-M but served, and what ccxt's watchTrades asks for).
"""

from __future__ import annotations

import enum
import logging

import msgspec

from casino_tui.model import Candle, Trade
from casino_tui.sandbox import book, intervals
from casino_tui.sandbox.connection import Connection
from casino_tui.sandbox.events import (
    AggTradeEvent,
    BookTickerEvent,
    KlineBody,
    KlineEvent,
    MarkPriceEvent,
    TradeEvent,
)
from casino_tui.sandbox.faults import Faults
from casino_tui.sandbox.numbers import SymbolFormat, plain

log = logging.getLogger("casino.sandbox")

KLINE_PUSH_MS = 250
FUNDING_INTERVAL_MS = 8 * intervals.HOUR_MS
FUNDING_RATE = "0.00010000"


class StreamKind(enum.StrEnum):
    AGG_TRADE = "aggTrade"
    TRADE = "trade"
    MARK_PRICE = "markPrice"
    KLINE = "kline"
    BOOK_TICKER = "bookTicker"


class StreamSpec(msgspec.Struct, frozen=True):
    """A parsed stream name. `param` is the kline interval, or the mark price period in ms."""

    name: str
    symbol: str
    kind: StreamKind
    interval: str = ""
    period_ms: int = 0


def parse_stream(name: str, symbols: set[str]) -> StreamSpec | None:
    """The stream `name` refers to, or None if it is not one the sandbox serves (symbols must be lower case)."""
    sym, sep, rest = name.partition("@")
    symbol = sym.upper()
    if not sep or sym != sym.lower() or symbol not in symbols:
        return None
    if rest == "aggTrade":
        return StreamSpec(name, symbol, StreamKind.AGG_TRADE)
    if rest == "trade":
        return StreamSpec(name, symbol, StreamKind.TRADE)
    if rest == "bookTicker":
        return StreamSpec(name, symbol, StreamKind.BOOK_TICKER)
    if rest in ("markPrice", "markPrice@3s", "markPrice@1s"):
        return StreamSpec(
            name, symbol, StreamKind.MARK_PRICE, period_ms=1000 if rest.endswith("@1s") else 3000
        )
    if rest.startswith("kline_") and rest[6:] in intervals.INTERVAL_MS:
        return StreamSpec(name, symbol, StreamKind.KLINE, interval=rest[6:])
    return None


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


class _SymbolStreams:
    """Who listens to what, for one symbol."""

    __slots__ = ("agg", "trade", "book", "marks", "klines")

    def __init__(self) -> None:
        self.agg: dict[str, set[Connection]] = {}
        self.trade: dict[str, set[Connection]] = {}
        self.book: dict[str, set[Connection]] = {}
        self.marks: dict[str, tuple[StreamSpec, set[Connection]]] = {}
        self.klines: dict[str, tuple[StreamSpec, LiveKline | None, set[Connection]]] = {}

    def is_empty(self) -> bool:
        return not (self.agg or self.trade or self.book or self.marks or self.klines)


class MarketFeed:
    """The sim's MarketSink on the sandbox side: caches last and mark prices, fans frames out."""

    def __init__(self, formats: dict[str, SymbolFormat], faults: Faults) -> None:
        self.formats = formats
        self.symbols = set(formats)
        self._faults = faults
        self._enc = msgspec.json.Encoder()
        self._streams: dict[str, _SymbolStreams] = {}
        self._trade_ids = dict.fromkeys(formats, 0)
        self._book_ids = dict.fromkeys(formats, 0)
        self._mark_sent: dict[str, int] = {}
        self._minutes: dict[str, LiveKline] = {}
        self.last_price: dict[str, float] = {}
        self.mark_price: dict[str, float] = {}
        self.last_ts_ms = 0

    # -- subscriptions ---------------------------------------------------------------------------------

    def subscribe(self, conn: Connection, spec: StreamSpec) -> None:
        streams = self._streams.setdefault(spec.symbol, _SymbolStreams())
        if spec.kind is StreamKind.AGG_TRADE:
            streams.agg.setdefault(spec.name, set()).add(conn)
        elif spec.kind is StreamKind.TRADE:
            streams.trade.setdefault(spec.name, set()).add(conn)
        elif spec.kind is StreamKind.BOOK_TICKER:
            streams.book.setdefault(spec.name, set()).add(conn)
        elif spec.kind is StreamKind.MARK_PRICE:
            streams.marks.setdefault(spec.name, (spec, set()))[1].add(conn)
        else:
            streams.klines.setdefault(spec.name, (spec, None, set()))[2].add(conn)
        conn.streams.add(spec.name)

    def unsubscribe(self, conn: Connection, spec: StreamSpec) -> None:
        conn.streams.discard(spec.name)
        streams = self._streams.get(spec.symbol)
        if streams is None:
            return
        for table in (streams.agg, streams.trade, streams.book):
            subs = table.get(spec.name)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del table[spec.name]
        if spec.name in streams.marks:
            streams.marks[spec.name][1].discard(conn)
            if not streams.marks[spec.name][1]:
                del streams.marks[spec.name]
        if spec.name in streams.klines:
            streams.klines[spec.name][2].discard(conn)
            if not streams.klines[spec.name][2]:
                del streams.klines[spec.name]
        if streams.is_empty():
            del self._streams[spec.symbol]

    def drop(self, conn: Connection) -> None:
        for name in list(conn.streams):
            spec = parse_stream(name, self.symbols)
            if spec is not None:
                self.unsubscribe(conn, spec)

    # -- MarketSink ------------------------------------------------------------------------------------

    def on_trade(self, trade: Trade) -> None:
        symbol = trade.symbol
        trade_id = self._trade_ids.get(symbol, 0) + 1
        self._trade_ids[symbol] = trade_id
        self.last_price[symbol] = trade.price
        self.last_ts_ms = trade.ts_ms
        minute = self._minutes.get(symbol)
        if minute is None:
            minute = self._minutes[symbol] = LiveKline("1m", trade.ts_ms)
        elif trade.ts_ms > minute.close_ms:
            minute.reset(trade.ts_ms, trade.price)
        minute.add(trade, trade_id)
        streams = self._streams.get(symbol)
        if streams is None:
            return
        silent = self._faults.silent_sockets
        fmt = self.formats[symbol]
        if streams.agg and not silent:
            qty = fmt.qty(trade.qty)
            event = AggTradeEvent(
                event_time=trade.ts_ms,
                symbol=symbol,
                agg_id=trade_id,
                price=fmt.price(trade.price),
                qty=qty,
                qty_without_rpi=qty,
                first_trade_id=trade_id,
                last_trade_id=trade_id,
                trade_time=trade.ts_ms,
                buyer_is_maker=trade.buyer_is_maker,
            )
            self._fan_out(streams.agg, self._enc.encode(event).decode())
        if streams.trade and not silent:
            plain_trade = TradeEvent(
                event_time=trade.ts_ms,
                trade_time=trade.ts_ms,
                symbol=symbol,
                trade_id=trade_id,
                price=fmt.price(trade.price),
                qty=fmt.qty(trade.qty),
                buyer_is_maker=trade.buyer_is_maker,
            )
            self._fan_out(streams.trade, self._enc.encode(plain_trade).decode())
        if streams.klines:
            self._klines(streams, trade, trade_id, fmt, silent)
        if streams.book and not silent:
            self._book_ticker(streams, symbol, trade.price, trade.ts_ms, fmt)

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.mark_price[symbol] = price
        streams = self._streams.get(symbol)
        if streams is None or not streams.marks or self._faults.silent_sockets:
            return
        fmt = self.formats[symbol]
        payload = ""
        for name, (spec, subs) in streams.marks.items():
            if ts_ms - self._mark_sent.get(name, -spec.period_ms) < spec.period_ms:
                continue
            self._mark_sent[name] = ts_ms
            if not payload:
                mark = fmt.price(price)
                event = MarkPriceEvent(
                    event_time=ts_ms,
                    symbol=symbol,
                    mark_price=mark,
                    mark_price_average=mark,
                    index_price=mark,
                    estimated_settle_price=mark,
                    funding_rate=FUNDING_RATE,
                    next_funding_time=next_funding_ms(ts_ms),
                )
                payload = self._enc.encode(event).decode()
            for conn in subs:
                conn.push_market(name, payload)

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        log.info("sim stream %s %s %s", stream, "up" if connected else "down", reason)

    def open_minute(self, symbol: str, open_ms: int) -> Candle | None:
        """The 1m candle opened at `open_ms`, from the trades streamed so far, if any traded in it."""
        minute = self._minutes.get(symbol)
        if minute is None or minute.open_ms != open_ms or minute.n == 0:
            return None
        return Candle(
            symbol, "1m", open_ms, minute.o, minute.h, minute.l, minute.c, round(minute.v, 8), minute.n, False
        )

    # -- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    def _fan_out(table: dict[str, set[Connection]], payload: str) -> None:
        for name, subs in table.items():
            for conn in subs:
                conn.push_market(name, payload)

    def _klines(
        self, streams: _SymbolStreams, trade: Trade, trade_id: int, fmt: SymbolFormat, silent: bool
    ) -> None:
        for name, (spec, live, subs) in list(streams.klines.items()):
            if live is None:
                live = LiveKline(spec.interval, trade.ts_ms)
                streams.klines[name] = (spec, live, subs)
            elif trade.ts_ms > live.close_ms:
                if live.n and not silent:
                    self._push_kline(name, subs, live, trade.ts_ms, fmt, closed=True)
                live.reset(trade.ts_ms, live.c)
            live.add(trade, trade_id)
            if trade.ts_ms - live.pushed_ms >= KLINE_PUSH_MS and not silent:
                live.pushed_ms = trade.ts_ms
                self._push_kline(name, subs, live, trade.ts_ms, fmt, closed=False)

    def _push_kline(
        self, name: str, subs: set[Connection], k: LiveKline, ts_ms: int, fmt: SymbolFormat, closed: bool
    ) -> None:
        body = KlineBody(
            open_time=k.open_ms,
            close_time=k.close_ms,
            symbol=fmt_symbol(name),
            interval=k.interval,
            first_trade_id=k.f,
            last_trade_id=k.last_id,
            open=fmt.price(k.o),
            close=fmt.price(k.c),
            high=fmt.price(k.h),
            low=fmt.price(k.l),
            volume=fmt.qty(k.v),
            trades=k.n,
            is_closed=closed,
            quote_volume=plain(round(k.q, 8)),
            taker_buy_volume=fmt.qty(k.tv),
            taker_buy_quote_volume=plain(round(k.tq, 8)),
        )
        payload = self._enc.encode(KlineEvent(event_time=ts_ms, symbol=body.symbol, kline=body)).decode()
        for conn in subs:
            conn.push_market(name, payload)

    def _book_ticker(
        self, streams: _SymbolStreams, symbol: str, price: float, ts_ms: int, fmt: SymbolFormat
    ) -> None:
        update_id = self._book_ids[symbol] = self._book_ids.get(symbol, 0) + 1
        bid, bid_qty, ask, ask_qty = book.best_bid_ask(fmt, price)
        event = BookTickerEvent(
            update_id=update_id,
            event_time=ts_ms,
            transaction_time=ts_ms,
            symbol=symbol,
            bid_price=fmt.price(bid),
            bid_qty=fmt.qty(bid_qty),
            ask_price=fmt.price(ask),
            ask_qty=fmt.qty(ask_qty),
        )
        self._fan_out(streams.book, self._enc.encode(event).decode())


def fmt_symbol(stream_name: str) -> str:
    return stream_name.partition("@")[0].upper()


def next_funding_ms(ts_ms: int) -> int:
    """Funding happens every 8 hours from 00:00 UTC."""
    return (ts_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
