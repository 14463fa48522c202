"""Market streams: the sim's trades and marks, encoded as Binance frames for the connections subscribed.

Registered with the sim as its MarketSink. Per trade: one dict lookup when nobody listens to the symbol (and
no all-market stream is open); otherwise one encode per stream, shared by every subscriber. Stream names are
parsed in streams.py; periodic streams push on the first event after their period, on the sim's clock.
`@trade` is undocumented for USD-M but served (ccxt's watchTrades asks for it). `@forceOrder` and
`!contractInfo` are accepted and stay silent: the sim has no liquidations and its contracts never change.
"""

from __future__ import annotations

import logging

import msgspec

from casino_tui.model import Candle, Trade
from casino_tui.sandbox import book, intervals
from casino_tui.sandbox.connection import Connection
from casino_tui.sandbox.events import (
    AggTradeEvent,
    BookTickerEvent,
    DepthUpdateEvent,
    MarkPriceEvent,
    TradeEvent,
)
from casino_tui.sandbox.faults import Faults
from casino_tui.sandbox.live_kline import KLINE_PUSH_MS, LiveKline
from casino_tui.sandbox.numbers import SymbolFormat
from casino_tui.sandbox.streams import StreamKind, StreamSpec, parse_stream
from casino_tui.sandbox.tickers import DayStats, RollingDay, mini_ticker_event, ticker_event

log = logging.getLogger("casino.sandbox")

FUNDING_INTERVAL_MS = 8 * intervals.HOUR_MS
FUNDING_RATE = "0.00010000"
# Trade ids start high, as on Binance, so a 24 h window's first id (last id - count + 1) stays positive.
FIRST_TRADE_ID = 1_000_000_001
_NEVER = -(2**62)


class Stream:
    """One stream name, its subscribers, and what it remembers between pushes."""

    __slots__ = ("spec", "conns", "pushed_ms", "kline", "update_id", "low", "high", "pending", "sent_ms")

    def __init__(self, spec: StreamSpec, update_id: int, bid: int | None) -> None:
        self.spec = spec
        self.conns: set[Connection] = set()
        self.pushed_ms = _NEVER
        self.kline: LiveKline | None = None
        self.update_id = update_id  # depth streams: `u` of the last push
        self.low = self.high = bid  # diff depth: range of the best bid (ticks) since the last push
        self.pending: set[str] = set()  # all-market tickers: symbols traded since the last push
        self.sent_ms: dict[str, int] = {}  # !bookTicker: last push per symbol

    def due(self, ts_ms: int) -> bool:
        return ts_ms - self.pushed_ms >= self.spec.period_ms

    def push(self, payload: str) -> None:
        for conn in self.conns:
            conn.push_market(self.spec.name, payload)


class MarketFeed:
    """The sim's MarketSink on the sandbox side: caches last and mark prices, fans frames out."""

    def __init__(self, formats: dict[str, SymbolFormat], faults: Faults) -> None:
        self.formats = formats
        self.symbols = set(formats)
        self._faults = faults
        self._enc = msgspec.json.Encoder()
        self._by_symbol: dict[str, dict[str, Stream]] = {}
        self._all_market: dict[str, Stream] = {}
        self._trade_ids = dict.fromkeys(formats, FIRST_TRADE_ID - 1)
        self._book_ids = dict.fromkeys(formats, 0)
        self._minutes: dict[str, LiveKline] = {}
        self.days: dict[str, RollingDay] = {}
        self.last_price: dict[str, float] = {}
        self.last_qty: dict[str, float] = {}
        self.mark_price: dict[str, float] = {}
        self.last_ts_ms = 0

    # -- subscriptions ---------------------------------------------------------------------------------

    def subscribe(self, conn: Connection, spec: StreamSpec) -> None:
        """Add `conn` to the stream (ticker streams need their symbols' days loaded first: see tickers.py)."""
        table = self._all_market if spec.all_market else self._by_symbol.setdefault(spec.symbol, {})
        stream = table.get(spec.name)
        if stream is None:
            last = self.last_price.get(spec.symbol, 0.0)
            bid = book.bid_index(self.formats[spec.symbol], last) if last else None
            stream = table[spec.name] = Stream(spec, self._book_ids.get(spec.symbol, 0), bid)
        stream.conns.add(conn)
        conn.streams.add(spec.name)

    def unsubscribe(self, conn: Connection, spec: StreamSpec) -> None:
        conn.streams.discard(spec.name)
        table = self._all_market if spec.all_market else self._by_symbol.get(spec.symbol)
        stream = table.get(spec.name) if table is not None else None
        if table is None or stream is None:
            return
        stream.conns.discard(conn)
        if not stream.conns:
            del table[spec.name]
        if not table and not spec.all_market:
            del self._by_symbol[spec.symbol]

    def drop(self, conn: Connection) -> None:
        for name in list(conn.streams):
            spec = parse_stream(name, self.symbols)
            if spec is not None:
                self.unsubscribe(conn, spec)

    # -- MarketSink ------------------------------------------------------------------------------------

    def on_trade(self, trade: Trade) -> None:
        symbol = trade.symbol
        trade_id = self._trade_ids.get(symbol, FIRST_TRADE_ID - 1) + 1
        self._trade_ids[symbol] = trade_id
        self._book_ids[symbol] = self._book_ids.get(symbol, 0) + 1
        self.last_price[symbol] = trade.price
        self.last_qty[symbol] = trade.qty
        self.last_ts_ms = trade.ts_ms
        self._roll_minute(trade, trade_id)
        streams = self._by_symbol.get(symbol)
        if streams is None and not self._all_market:
            return
        silent = self._faults.silent_sockets
        fmt = self.formats[symbol]
        # Pushing only queues frames (a slow client is closed later, not unsubscribed here): no copies needed.
        for stream in streams.values() if streams else ():
            self._on_symbol_trade(stream, trade, trade_id, fmt, silent)
        for stream in self._all_market.values():
            self._on_market_trade(stream, trade, fmt, silent)

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.mark_price[symbol] = price
        if self._faults.silent_sockets:
            return
        streams = self._by_symbol.get(symbol)
        payload = ""
        for stream in streams.values() if streams else ():
            if stream.spec.kind is StreamKind.MARK_PRICE and stream.due(ts_ms):
                stream.pushed_ms = ts_ms
                payload = payload or self._mark_payload(symbol, price, ts_ms)
                stream.push(payload)
        for stream in self._all_market.values():
            if stream.spec.kind is StreamKind.MARK_PRICE and stream.due(ts_ms):
                stream.pushed_ms = ts_ms
                marks = [self._mark_payload(s, p, ts_ms) for s, p in self.mark_price.items()]
                stream.push(f"[{','.join(marks)}]")

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        log.info("sim stream %s %s %s", stream, "up" if connected else "down", reason)

    # -- what REST handlers read -----------------------------------------------------------------------

    def open_minute(self, symbol: str, open_ms: int) -> Candle | None:
        """The 1m candle opened at `open_ms`, from the trades streamed so far, if any traded in it."""
        minute = self._minutes.get(symbol)
        if minute is None or minute.open_ms != open_ms or minute.n == 0:
            return None
        return minute.candle(symbol)

    def book_update_id(self, symbol: str) -> int:
        """The book's update id (`lastUpdateId` of a depth snapshot; `u` of the depth streams)."""
        return self._book_ids.get(symbol, 0)

    def day_stats(self, symbol: str, now_ms: int, fallback_price: float = 0.0) -> DayStats:
        """24 h statistics of `symbol` at `now_ms` (its day must have been loaded: tickers.rolling_day)."""
        minute = self._minutes.get(symbol)
        live = minute.candle(symbol) if minute is not None and minute.n else None
        day = self.days.get(symbol) or RollingDay([])
        last = self.last_price.get(symbol) or fallback_price
        last_id = self._trade_ids.get(symbol, FIRST_TRADE_ID - 1)
        return day.stats(symbol, now_ms, live, last, self.last_qty.get(symbol, 0.0), last_id)

    # -- per stream ------------------------------------------------------------------------------------

    def _roll_minute(self, trade: Trade, trade_id: int) -> None:
        symbol = trade.symbol
        minute = self._minutes.get(symbol)
        if minute is None:
            minute = self._minutes[symbol] = LiveKline("1m", trade.ts_ms)
        elif trade.ts_ms > minute.close_ms:
            day = self.days.get(symbol)
            if day is not None and minute.n:
                day.close_minute(minute.candle(symbol))
            minute.reset(trade.ts_ms, trade.price)
        minute.add(trade, trade_id)

    def _on_symbol_trade(
        self, stream: Stream, trade: Trade, trade_id: int, fmt: SymbolFormat, silent: bool
    ) -> None:
        kind = stream.spec.kind
        if kind in (StreamKind.KLINE, StreamKind.CONTINUOUS_KLINE):
            self._kline(stream, trade, trade_id, fmt, silent)
        elif kind is StreamKind.DIFF_DEPTH:
            self._diff_depth(stream, trade, fmt, silent)
        elif silent:
            return
        elif kind is StreamKind.AGG_TRADE:
            qty = fmt.qty(trade.qty)
            event = AggTradeEvent(
                event_time=trade.ts_ms,
                symbol=trade.symbol,
                agg_id=trade_id,
                price=fmt.price(trade.price),
                qty=qty,
                qty_without_rpi=qty,
                first_trade_id=trade_id,
                last_trade_id=trade_id,
                trade_time=trade.ts_ms,
                buyer_is_maker=trade.buyer_is_maker,
            )
            stream.push(self._enc.encode(event).decode())
        elif kind is StreamKind.TRADE:
            plain_trade = TradeEvent(
                event_time=trade.ts_ms,
                trade_time=trade.ts_ms,
                symbol=trade.symbol,
                trade_id=trade_id,
                price=fmt.price(trade.price),
                qty=fmt.qty(trade.qty),
                buyer_is_maker=trade.buyer_is_maker,
            )
            stream.push(self._enc.encode(plain_trade).decode())
        elif kind is StreamKind.BOOK_TICKER:
            stream.push(self._book_ticker(trade.symbol, trade.price, trade.ts_ms, fmt))
        elif kind is StreamKind.PARTIAL_DEPTH and stream.due(trade.ts_ms):
            bids, asks = book.depth(fmt, trade.price, stream.spec.levels)
            self._push_depth(stream, trade, bids, asks)
        elif kind in (StreamKind.MINI_TICKER, StreamKind.TICKER) and stream.due(trade.ts_ms):
            stream.pushed_ms = trade.ts_ms
            stream.push(self._ticker_payload(kind, trade.symbol, trade.ts_ms))

    def _on_market_trade(self, stream: Stream, trade: Trade, fmt: SymbolFormat, silent: bool) -> None:
        """All-market streams: `!bookTicker` (each symbol at most every 5 s) and the ticker arrays."""
        kind, symbol, ts = stream.spec.kind, trade.symbol, trade.ts_ms
        if silent:
            return
        if kind is StreamKind.BOOK_TICKER:
            if ts - stream.sent_ms.get(symbol, _NEVER) >= stream.spec.period_ms:
                stream.sent_ms[symbol] = ts
                stream.push(self._book_ticker(symbol, trade.price, ts, fmt))
        elif kind in (StreamKind.MINI_TICKER, StreamKind.TICKER):
            stream.pending.add(symbol)  # only tickers that changed are sent
            if stream.due(ts):
                stream.pushed_ms = ts
                rows = [self._ticker_payload(kind, s, ts) for s in sorted(stream.pending) if s in self.days]
                stream.pending.clear()
                stream.push(f"[{','.join(rows)}]")

    def _kline(self, stream: Stream, trade: Trade, trade_id: int, fmt: SymbolFormat, silent: bool) -> None:
        live = stream.kline
        if live is None:
            live = stream.kline = LiveKline(stream.spec.interval, trade.ts_ms)
        elif trade.ts_ms > live.close_ms:
            if live.n and not silent:
                self._push_kline(stream, live, trade.ts_ms, fmt, closed=True)
            live.reset(trade.ts_ms, live.c)
        live.add(trade, trade_id)
        if trade.ts_ms - live.pushed_ms >= KLINE_PUSH_MS and not silent:
            live.pushed_ms = trade.ts_ms
            self._push_kline(stream, live, trade.ts_ms, fmt, closed=False)

    def _push_kline(
        self, stream: Stream, live: LiveKline, ts_ms: int, fmt: SymbolFormat, closed: bool
    ) -> None:
        symbol = stream.spec.symbol
        if stream.spec.kind is StreamKind.CONTINUOUS_KLINE:
            event: msgspec.Struct = live.continuous_event(symbol, ts_ms, fmt, closed)
        else:
            event = live.event(symbol, ts_ms, fmt, closed)
        stream.push(self._enc.encode(event).decode())

    def _diff_depth(self, stream: Stream, trade: Trade, fmt: SymbolFormat, silent: bool) -> None:
        """Track how far the best bid moved; when due, send every level that may have changed since."""
        bid = book.bid_index(fmt, trade.price)
        low = bid if stream.low is None else min(stream.low, bid)
        high = bid if stream.high is None else max(stream.high, bid)
        stream.low, stream.high = low, high
        if silent or not stream.due(trade.ts_ms):
            return
        bids, asks = book.changed_levels(fmt, low, high, bid)
        if bids or asks:
            self._push_depth(stream, trade, bids, asks)
            stream.low = stream.high = bid

    def _push_depth(self, stream: Stream, trade: Trade, bids: list[list[str]], asks: list[list[str]]) -> None:
        final = self._book_ids[trade.symbol]
        if final == stream.update_id:
            return
        event = DepthUpdateEvent(
            event_time=trade.ts_ms,
            transaction_time=trade.ts_ms,
            symbol=trade.symbol,
            first_update_id=stream.update_id + 1,
            final_update_id=final,
            previous_final_update_id=stream.update_id,
            bids=bids,
            asks=asks,
        )
        stream.update_id = final
        stream.pushed_ms = trade.ts_ms
        stream.push(self._enc.encode(event).decode())

    def _ticker_payload(self, kind: StreamKind, symbol: str, ts_ms: int) -> str:
        stats = self.day_stats(symbol, ts_ms)
        fmt = self.formats[symbol]
        event = mini_ticker_event(stats, fmt) if kind is StreamKind.MINI_TICKER else ticker_event(stats, fmt)
        return self._enc.encode(event).decode()

    def _book_ticker(self, symbol: str, price: float, ts_ms: int, fmt: SymbolFormat) -> str:
        bid, bid_qty, ask, ask_qty = book.best_bid_ask(fmt, price)
        event = BookTickerEvent(
            update_id=self._book_ids[symbol],
            event_time=ts_ms,
            transaction_time=ts_ms,
            symbol=symbol,
            bid_price=fmt.price(bid),
            bid_qty=fmt.qty(bid_qty),
            ask_price=fmt.price(ask),
            ask_qty=fmt.qty(ask_qty),
        )
        return self._enc.encode(event).decode()

    def _mark_payload(self, symbol: str, price: float, ts_ms: int) -> str:
        mark = self.formats[symbol].price(price)
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
        return self._enc.encode(event).decode()


def next_funding_ms(ts_ms: int) -> int:
    """Funding happens every 8 hours from 00:00 UTC."""
    return (ts_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
