"""Harness for the connector tests: the real BinanceExchange against the loopback sandbox, real sockets.

`Recorder` is both sinks and keeps everything it hears; `wait_for` polls a condition with a generous
deadline, optionally stepping the sandbox's simulated market between looks (ManualClock runs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from casino_tui.clock import Clock, ManualClock
from casino_tui.config import ExchangeConfig
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.model import AccountUpdate, OrderUpdate, Trade
from casino_tui.sandbox import SandboxServer, running_sandbox

API_KEY = "sandbox-key"
API_SECRET = "sandbox-secret"
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
DEADLINE_S = 20.0


class Recorder:
    """MarketSink + UserSink that records every call."""

    def __init__(self) -> None:
        self.trades: list[Trade] = []
        self.marks: list[tuple[str, float, int]] = []
        self.statuses: list[tuple[str, bool, str]] = []
        self.orders: list[OrderUpdate] = []
        self.accounts: list[AccountUpdate] = []

    def on_trade(self, trade: Trade) -> None:
        self.trades.append(trade)

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.marks.append((symbol, price, ts_ms))

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        self.statuses.append((stream, connected, reason))

    def on_order_update(self, update: OrderUpdate) -> None:
        self.orders.append(update)

    def on_account_update(self, update: AccountUpdate) -> None:
        self.accounts.append(update)

    def order(self, client_id: str, status: str) -> OrderUpdate | None:
        return next((u for u in self.orders if u.client_id == client_id and u.status == status), None)


async def wait_for(
    condition: Callable[[], Any],
    what: str,
    step: Callable[[], None] | None = None,
    deadline_s: float = DEADLINE_S,
) -> Any:
    """Poll `condition` until truthy; `step` (a market step) runs between looks. Fails after the deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not (result := condition()):
        if loop.time() > end:
            raise AssertionError(f"timed out after {deadline_s:g}s waiting for {what}")
        if step is not None:
            step()
        await asyncio.sleep(0.01)
    return result


def market_step(sandbox: SandboxServer, clock: ManualClock, step_ms: int = 500) -> Callable[[], None]:
    def step() -> None:
        clock.advance(step_ms)
        sandbox.sim.pump()

    return step


def exchange_for(
    sandbox: SandboxServer, clock: Clock, key: str = API_KEY, secret: str = API_SECRET, **options: Any
) -> BinanceExchange:
    config = ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url)
    return BinanceExchange(config, key, secret, clock, testnet=False, seed=11, **options)


@contextlib.asynccontextmanager
async def connected(
    clock: ManualClock | None = None, symbols: list[str] | None = None, **options: Any
) -> AsyncIterator[tuple[SandboxServer, BinanceExchange, Recorder]]:
    """A sandbox and a started connector with a Recorder on both sinks; `clock` shared by both if given."""
    symbols = symbols or SYMBOLS
    async with running_sandbox(symbols=symbols, clock=clock, seed=7) as sandbox:
        exchange = exchange_for(sandbox, clock or sandbox.clock, **options)
        recorder = Recorder()
        exchange.set_sinks(recorder, recorder)
        try:
            await exchange.start(symbols)
            yield sandbox, exchange, recorder
        finally:
            await exchange.stop()
