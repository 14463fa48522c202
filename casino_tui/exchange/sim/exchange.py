"""SimExchange: the built-in simulated exchange behind the `Exchange` protocol (no keys, no network).

One asyncio task pumps the market every ~50 ms of wall time up to `clock.now_ms()`: each trade goes to the
matching engine (conditional triggers, limit fills) and then to the market sink, by direct calls. User
events (order and account updates) are queued and delivered with `loop.call_soon`, so the caller of
`place_order` normally holds the REST answer before the stream events arrive, as with a real exchange;
the engine must still accept either order. With no running loop (synchronous tests) events are delivered
at once. With a ManualClock nothing runs by itself: tests call `pump()` and `flush_events()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec

from casino_tui.clock import Clock, ManualClock
from casino_tui.config import SimConfig
from casino_tui.exchange.sim.account import MatchingAccount
from casino_tui.exchange.sim.market import MarketState, SimMarket
from casino_tui.exchange.sim.matching import AccountState, MatchingEngine
from casino_tui.model import Candle, SymbolRules
from casino_tui.port import KeyPermissions, MarketSink, UserSink

log = logging.getLogger("casino.sim")

MARK_INTERVAL_MS = 1000  # Binance's markPrice@1s cadence, in simulated time


class SimState(msgspec.Struct, kw_only=True):
    """The simulated exchange at one instant: its clock, its market, and the account trading on it."""

    clock_ms: int
    market: MarketState
    account: AccountState


class SimExchange(MatchingAccount):
    """Seeded market plus matching engine for `symbols`; unknown symbols raise ValueError("unknown symbol: X").

    `autorun=None` runs the pump task unless `clock` is a ManualClock; `leverage` applies to every symbol.
    `market` and `matching` are public for the Binance-protocol sandbox.
    """

    name = "sim"
    is_live = False

    def __init__(
        self,
        config: SimConfig,
        symbols: list[str],
        clock: Clock,
        *,
        leverage: int = 5,
        autorun: bool | None = None,
        pump_interval_s: float = 0.05,
    ) -> None:
        self.clock = clock
        self.market = SimMarket(symbols, config.seed, clock.now_ms())
        self.matching = MatchingEngine(
            self.market.rules,
            config.start_balance_usdt,
            config.taker_fee,
            config.slippage_bps,
            clock,
            leverage=leverage,
        )
        self.matching.set_last_prices(self.market.last_prices())
        self.matching.set_mark_prices(self.market.mark_prices())
        self.attach_account()
        self.autorun = not isinstance(clock, ManualClock) if autorun is None else autorun
        self.pump_interval_s = pump_interval_s
        self._market_sink: MarketSink | None = None
        self._streamed: frozenset[str] | None = None  # None: every symbol of the market
        self._task: asyncio.Task[None] | None = None
        self._next_mark_ms = clock.now_ms()

    def share_secrets(self, hide: Callable[[str], None]) -> None:
        """The sim has no keys: nothing to hide."""

    # -- streams ---------------------------------------------------------------------------------------

    def set_sinks(self, market: MarketSink, user: UserSink) -> None:
        """Register the receivers of stream events; call before `start()`."""
        self._market_sink = market
        self.user_events.sink = user

    async def start(self, symbols: list[str]) -> None:
        """Stream trades of `symbols` (a subset of the constructor's) and user events; launch the pump if autorun."""
        for symbol in symbols:
            if symbol not in self.market.rules:
                raise ValueError(f"unknown symbol: {symbol}")
        self._streamed = None if set(symbols) == set(self.market.symbols) else frozenset(symbols)
        if self._market_sink is not None:
            for stream in ("market", "user"):
                self._market_sink.on_stream_status(stream, True, "sim")
        if self.autorun and self._task is None:
            self._task = asyncio.create_task(self._run(), name="sim-exchange-pump")

    async def start_market(self, symbols: list[str]) -> None:
        """The sim's account needs no connection of its own: market and user events start together."""
        await self.start(symbols)

    async def stop(self) -> None:
        """Stop the pump task and deliver any queued user events."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.flush_events()
        if self._market_sink is not None:
            for stream in ("market", "user"):
                self._market_sink.on_stream_status(stream, False, "stopped")

    async def _run(self) -> None:
        while True:
            try:
                self.pump()
            except Exception:  # the simulation must outlive a faulty receiver
                log.exception("sim pump failed")
            await asyncio.sleep(self.pump_interval_s)

    def pump(self, until_ms: int | None = None) -> int:
        """Advance the market to `until_ms` (default the clock) and deliver its trades; returns how many."""
        until = self.clock.now_ms() if until_ms is None else until_ms
        trades = self.market.advance(until)
        watched = self.matching.watched_symbols
        on_fill_check = self.matching.on_trade
        sink = self._market_sink
        streamed = self._streamed
        if sink is None:
            for trade in trades:
                if trade.symbol in watched:
                    on_fill_check(trade)
        elif streamed is None:
            on_trade = sink.on_trade
            for trade in trades:
                if trade.symbol in watched:
                    on_fill_check(trade)
                on_trade(trade)
        else:
            on_trade = sink.on_trade
            for trade in trades:
                if trade.symbol in watched:
                    on_fill_check(trade)
                if trade.symbol in streamed:
                    on_trade(trade)
        if trades:
            self.matching.set_last_prices(self.market.last_prices())
        if until >= self._next_mark_ms:
            self._publish_marks(until)
        return len(trades)

    def _publish_marks(self, now_ms: int) -> None:
        self._next_mark_ms = (now_ms // MARK_INTERVAL_MS + 1) * MARK_INTERVAL_MS
        marks = self.market.mark_prices()
        self.matching.set_mark_prices(marks)
        sink = self._market_sink
        if sink is not None:
            for symbol, mark in marks.items():
                if self._streamed is None or symbol in self._streamed:
                    sink.on_mark_price(symbol, mark, now_ms)

    # -- requests --------------------------------------------------------------------------------------

    async def server_time_ms(self) -> int:
        """The clock's time: the sim has no skew."""
        return self.clock.now_ms()

    async def symbol_rules(self) -> dict[str, SymbolRules]:
        """Filters of the simulated symbols (Binance values for the majors)."""
        return dict(self.market.rules)

    async def klines(
        self, symbol: str, timeframe: str, limit: int, end_ms: int | None = None
    ) -> list[Candle]:
        """Closed candles, oldest first, ending by `end_ms` (default now) and by what has been simulated."""
        return self.market.klines(symbol, timeframe, limit, self.clock.now_ms() if end_ms is None else end_ms)

    async def tickers(self) -> dict[str, float]:
        """Last price of every symbol."""
        return self.market.last_prices()

    async def key_permissions(self) -> KeyPermissions | None:
        return None  # no key: the paper account moves no money

    async def is_hedge_mode(self) -> bool:
        return False  # the sim keeps one position per symbol

    def reopen_breakers(self, saved: dict[str, Any]) -> None:
        """The sim has no breakers: nothing to re-open."""

    def inject_position(self, symbol: str, qty: float, entry_price: float) -> None:
        """Create or replace a position without telling the engine (reconcile tests: an 'unknown' position)."""
        self.matching.inject_position(symbol, qty, entry_price)

    def state(self) -> SimState:
        """The exchange now (its market's closed candles apart: `market.candle_rows`)."""
        return SimState(
            clock_ms=self.clock.now_ms(), market=self.market.state(), account=self.matching.account_state()
        )

    def restore(self, state: SimState, candles: bytes) -> None:
        """Continue from `state` (and the candles of its market's live minutes); call before `start()`, then
        move the clock to `state.clock_ms`.

        Raises ValueError if the state does not fit this exchange (other symbols, an account in symbols it
        does not list, candles of the wrong size); then nothing was changed.
        """
        if self._task is not None:
            raise RuntimeError("restore() before start()")
        if state.market.symbols != self.market.symbols:
            raise ValueError(f"saved for symbols {', '.join(state.market.symbols)}")
        market = SimMarket.resume(state.market, candles)
        self.matching.restore_account(state.account)  # checks before it changes anything
        self.market = market
        self.matching.set_last_prices(market.last_prices())
        self.matching.set_mark_prices(market.mark_prices())
        self._next_mark_ms = state.clock_ms
