"""ReplayExchange: the exchange port over historical trades, with the sim's matching engine filling orders.

The replay owns its clock (a `ReplayClock`): `feed(until_ms)` delivers the data's trades stamped before
`until_ms` to the matching engine (which triggers TP/SL and fills on them) and to the market sink, by direct
calls, and stops early right after a trade that moved one of our orders, with the clock at that trade, so
the runtime reacts at that instant of the data. Whoever drives the replay then moves the clock on.
User events are queued and delivered with `loop.call_soon`, as the sim does. Klines are replayed along their
intra-bar path, with the fill rules of `kline_fills` (segments cross triggers; the stop first on a two-leg bar). Mark prices are
the last trade prices, unless a recording brings its own. Warm-up history is the data's own first bars.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Iterator
from typing import Any

from casino_tui.clock import ReplayClock
from casino_tui.config import SimConfig
from casino_tui.exchange.replay.kline_fills import KlineFills
from casino_tui.exchange.replay.recorder import MarkPriceTick
from casino_tui.exchange.replay.sources import ReplaySource
from casino_tui.exchange.replay.warmup import MINUTE_MS, WarmupCandles
from casino_tui.exchange.sim.account import MatchingAccount
from casino_tui.exchange.sim.matching import MatchingEngine
from casino_tui.model import (
    Candle,
    SymbolRules,
    Trade,
)
from casino_tui.port import KeyPermissions, MarketSink, UserSink

log = logging.getLogger("casino.replay")

FINISHED_ORDERS_KEPT = 10_000  # finished orders a long replay keeps for look-ups (memory stays flat)
WARMUP_YIELD_EVERY = 65_536  # trades between two yields to the loop while the warm-up is read


class FeedStop(enum.Enum):
    """Why `feed` returned."""

    BOUNDARY = "boundary"  # the next trade is stamped at or after `until_ms`
    EVENT = "event"  # a trade moved one of our orders: the runtime reacts before more data
    END = "end"  # the data is exhausted


class WarmupTooLongError(Exception):
    """The data ends inside the warm-up: nothing would be replayed."""


class ReplayExchange(MatchingAccount):
    """Historical trades of `source` behind the `Exchange` port; `warmup_bars` base bars become history."""

    name = "replay"
    is_live = False
    clock: ReplayClock  # the data moves it (narrower than the base's Clock)

    def __init__(
        self,
        source: ReplaySource,
        config: SimConfig,
        clock: ReplayClock,
        *,
        leverage: int = 5,
        warmup_bars: int = 120,
    ) -> None:
        self.source = source
        self.clock = clock
        self.symbols = list(source.symbols)
        self.matching = MatchingEngine(
            dict(source.rules), config.start_balance_usdt, config.taker_fee, config.slippage_bps, clock,
            leverage=leverage, finished_kept=FINISHED_ORDERS_KEPT,
        )  # fmt: skip
        self.attach_account()
        has_klines = any(source.interval_ms.values())
        self.kline_fills = KlineFills(source.bar_at, self.matching.open_orders) if has_klines else None
        self._events: Iterator[Trade | MarkPriceTick] = source.events()
        self._recorded_marks: set[str] = set()  # symbols whose marks come from a recording
        self.base_ms = {s: source.interval_ms.get(s) or MINUTE_MS for s in self.symbols}
        self.warmup_bars = warmup_bars
        self.warmup = WarmupCandles(self.base_ms)
        self._next: Trade | MarkPriceTick | None = None
        self._is_done = False
        self._last: dict[str, float] = {}
        self.delivered = 0  # trades replayed after the warm-up
        self._market_sink: MarketSink | None = None

    # -- warm-up ---------------------------------------------------------------------------------------

    async def warm_up(self) -> int:
        """Read the first `warmup_bars` bars into candles and move the clock to their end; returns that time.

        Raises WarmupTooLongError if the data ends first. Yields to the loop now and then (a console stays live).
        """
        first = self._peek()
        if first is None:
            raise WarmupTooLongError("the data holds no trades to replay")
        step = max(self.base_ms.values())
        cut = first.ts_ms - first.ts_ms % step + self.warmup_bars * step
        add = self.warmup.add
        count = 0
        event: Trade | MarkPriceTick | None = first
        while event is not None and event.ts_ms < cut:
            if type(event) is Trade:
                add(event)
            count += 1
            if count % WARMUP_YIELD_EVERY == 0:
                await asyncio.sleep(0)
            event = next(self._events, None)
        self._next = event
        if event is None:
            self._is_done = True
            raise WarmupTooLongError(
                f"the data ends inside the warm-up of {self.warmup_bars} bars: lower --warmup"
            )
        self.warmup.finish(cut)
        self._last.update(self.warmup.last_prices())
        self.matching.set_last_prices(self._last)
        self.matching.set_mark_prices(self._last)
        self.clock.set(cut)
        return cut

    # -- the replay ------------------------------------------------------------------------------------

    def _peek(self) -> Trade | MarkPriceTick | None:
        if self._next is None and not self._is_done:
            self._next = next(self._events, None)
            self._is_done = self._next is None
        return self._next

    def next_trade_ms(self) -> int | None:
        """The time of the next event to deliver, None once the data is exhausted."""
        event = self._peek()
        return None if event is None else event.ts_ms

    @property
    def is_exhausted(self) -> bool:
        """Every event of the data has been delivered."""
        return self._is_done and self._next is None

    @property
    def has_pending_events(self) -> bool:
        return bool(self.user_events)

    def feed(self, until_ms: int) -> FeedStop:
        """Deliver the trades stamped before `until_ms` (matching first, then the market sink); see the module."""
        event = self._peek()
        if event is None:
            return FeedStop.END
        sink = self._market_sink
        on_trade = sink.on_trade if sink is not None else _ignore
        watched = self.matching.watched_symbols
        check = self.matching.on_trade
        pending = self.user_events
        fills = self.kline_fills
        swaps = fills.pending if fills is not None else {}
        last = self._last
        events = self._events
        delivered = 0
        stop = FeedStop.BOUNDARY
        while event is not None and event.ts_ms < until_ms:
            if type(event) is not Trade:
                self._recorded_mark(event)  # type: ignore[arg-type]
                event = next(events, None)
                continue
            trade: Trade = event
            symbol = trade.symbol
            if swaps and symbol in swaps:
                trade = fills.second_extreme(trade)  # type: ignore[union-attr]
            if symbol in watched:
                if fills is not None:
                    trade = fills.adverse_first(trade, self._position_sign(symbol))
                    for crossing in fills.crossed(trade, last.get(symbol)):
                        check(crossing)
                check(trade)
                if pending:  # one of our orders moved: hand over at this instant
                    last[symbol] = trade.price
                    on_trade(trade)
                    delivered += 1
                    self.clock.set(trade.ts_ms)
                    event = None
                    stop = FeedStop.EVENT
                    break
            last[symbol] = trade.price
            on_trade(trade)
            delivered += 1
            event = next(events, None)
        else:
            if event is None:
                self._is_done = True
                stop = FeedStop.END
        self._next = event
        self.delivered += delivered
        self.matching.set_last_prices(last)
        return stop

    def _recorded_mark(self, tick: MarkPriceTick) -> None:
        """A recording's own mark price: it replaces the last-trade mark for its symbol from now on."""
        self._recorded_marks.add(tick.symbol)
        self.matching.set_mark_price(tick.symbol, tick.price)
        if self._market_sink is not None:
            self._market_sink.on_mark_price(tick.symbol, tick.price, tick.ts_ms)

    def _position_sign(self, symbol: str) -> int:
        qty = self.matching.position(symbol).qty
        return 1 if qty > 0 else -1 if qty < 0 else 0

    def publish_marks(self, now_ms: int) -> None:
        """Marks at the last trade prices (recorded marks apart), to the matching engine and the market sink."""
        recorded = self._recorded_marks
        marks = {s: p for s, p in self._last.items() if s not in recorded} if recorded else self._last
        self.matching.set_mark_prices(marks)
        sink = self._market_sink
        if sink is not None:
            for symbol, price in marks.items():
                sink.on_mark_price(symbol, price, now_ms)

    def pump(self, until_ms: int | None = None) -> int:
        """Deliver every trade stamped at or before `until_ms` (default the clock); returns how many."""
        until = (self.clock.now_ms() if until_ms is None else until_ms) + 1
        before = self.delivered
        while self.feed(until) is FeedStop.EVENT:
            continue
        return self.delivered - before

    def progress(self) -> float:
        """How far through the data the replay is, 0..1."""
        return self.source.progress()

    # -- streams ---------------------------------------------------------------------------------------

    def share_secrets(self, hide: Callable[[str], None]) -> None:
        """A replay has no keys: nothing to hide."""

    def set_sinks(self, market: MarketSink, user: UserSink) -> None:
        """Register the receivers of stream events; call before `start()`."""
        self._market_sink = market
        self.user_events.sink = user

    async def start(self, symbols: list[str]) -> None:
        """Report the streams up; nothing moves until the driver feeds the data."""
        unknown = [s for s in symbols if s not in self.matching.rules]
        if unknown:
            raise ValueError(f"unknown symbol: {unknown[0]} (the data holds {', '.join(self.symbols)})")
        if self._market_sink is not None:
            for stream in ("market", "user"):
                self._market_sink.on_stream_status(stream, True, "replay")

    async def start_market(self, symbols: list[str]) -> None:
        await self.start(symbols)

    async def stop(self) -> None:
        """Deliver any queued user events and report the streams down."""
        self.flush_events()
        if self._market_sink is not None:
            for stream in ("market", "user"):
                self._market_sink.on_stream_status(stream, False, "replay ended")

    # -- requests --------------------------------------------------------------------------------------

    async def server_time_ms(self) -> int:
        return self.clock.now_ms()

    async def symbol_rules(self) -> dict[str, SymbolRules]:
        """The data's rules (known filters, or tick and step inferred from the prices and sizes seen)."""
        return dict(self.matching.rules)

    async def klines(
        self, symbol: str, timeframe: str, limit: int, end_ms: int | None = None
    ) -> list[Candle]:
        """Closed warm-up candles ending by `end_ms`; none for a timeframe finer than the data's interval."""
        return self.warmup.klines(symbol, timeframe, limit, self.clock.now_ms() if end_ms is None else end_ms)

    async def tickers(self) -> dict[str, float]:
        return dict(self._last)

    async def key_permissions(self) -> KeyPermissions | None:
        return None  # no key: a replay moves no money

    async def is_hedge_mode(self) -> bool:
        return False

    def reopen_breakers(self, saved: dict[str, Any]) -> None:
        """A replay has no breakers: nothing to re-open."""


def _ignore(trade: Trade) -> None:
    """The market sink before one is registered."""
