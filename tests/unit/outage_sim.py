"""The real sim exchange with switchable outages, and a Runtime on it holding protected positions.

An outage makes the chosen endpoints fail the way an open circuit breaker does (nothing is sent); the sim
itself keeps running, so tests can read the exchange's truth directly with `truth()`.
"""

from __future__ import annotations

import asyncio
import enum
from pathlib import Path

import msgspec

from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.model import Balance, OrderRequest, OrderType, OrderUpdate, Position
from casino_tui.paths import StatePaths
from casino_tui.port import BreakerOpenError
from casino_tui.runtime import Runtime

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
HELD = {"BTCUSDT": 0.004, "ETHUSDT": -0.1}  # positions the runtime finds (and protects) at start


class Outage(enum.Flag):
    NONE = 0
    ORDERS = enum.auto()  # place and cancel
    READS = enum.auto()  # open orders, positions, balance, order lookups


class OutageSim(SimExchange):
    """SimExchange whose order and/or read endpoints can be switched off (`down`)."""

    down: Outage = Outage.NONE

    def _check(self, part: Outage) -> None:
        if part in self.down:
            raise BreakerOpenError(f"{part.name.lower()} breaker OPEN (exchange outage)")

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        self._check(Outage.ORDERS)
        return await super().place_order(request)

    async def cancel_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate:
        self._check(Outage.ORDERS)
        return await super().cancel_order(symbol, client_id, conditional)

    async def get_order(self, symbol: str, client_id: str, conditional: bool) -> OrderUpdate | None:
        self._check(Outage.READS)
        return await super().get_order(symbol, client_id, conditional)

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        self._check(Outage.READS)
        return await super().open_orders(symbol)

    async def positions(self) -> list[Position]:
        self._check(Outage.READS)
        return await super().positions()

    async def balance(self) -> Balance:
        self._check(Outage.READS)
        return await super().balance()

    def truth(self) -> tuple[list[Position], list[OrderUpdate]]:
        """Positions and open orders as the matching engine holds them, outage or not."""
        return self.matching.positions(), self.matching.open_orders(None)

    def drop_stop(self, symbol: str) -> bool:
        """The exchange cancels `symbol`'s open stop-loss on its own (and says so on the user stream)."""
        for order in self.matching.open_orders(symbol):
            if order.type is OrderType.STOP_MARKET:
                self.matching.cancel(symbol, order.client_id, True)
                return True
        return False


def has_stop(position: Position, orders: list[OrderUpdate]) -> bool:
    """Whether `orders` hold a stop-loss that closes `position`."""
    return any(
        o.symbol == position.symbol
        and o.type is OrderType.STOP_MARKET
        and o.side is position.side.opposite
        and (o.close_position or o.quantity >= abs(position.qty))
        for o in orders
    )


def build_runtime(state_dir: Path, *, sweep_deadline_s: float = 10.0, **runtime: object) -> Runtime:
    """A Runtime on an OutageSim (ManualClock, inline sensors, no timers) that will find HELD at start."""
    config = load_config(
        None,
        {
            "": {"symbols": SYMBOLS},
            "sensors": {"executor": "inline"},
            "player": {"threshold": 0.05, "debounce": 1, "htf_filter": False, "cooldown_s": 0.0},
            "runtime": {"sweep_deadline_s": sweep_deadline_s, **runtime},
        },
        env={},
    )
    clock = ManualClock()
    sim = OutageSim(config.sim, config.symbols, clock, autorun=False)
    prices = sim.market.last_prices()
    for symbol, qty in HELD.items():
        sim.inject_position(symbol, qty, prices[symbol])
    return Runtime(config, exchange=sim, clock=clock, paths=StatePaths(state_dir).ensure(), use_timers=False)


async def start_fast(runtime: Runtime) -> None:
    """Start, then let retries and sweep rounds back off without waiting (outages are switched, not timed)."""
    await runtime.start()
    await without_backoff(runtime)


async def run_fast(runtime: Runtime) -> asyncio.Task[None]:
    """`runtime.run()` as a task, once RUNNING and without backoff waits; it ends after `request_stop()`."""
    task = asyncio.create_task(runtime.run())
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while runtime.status not in ("RUNNING", "PAUSED"):
        if task.done():
            task.result()
            raise AssertionError(f"the runtime ended during startup (status {runtime.status})")
        assert loop.time() < end, "the runtime never started"
        await asyncio.sleep(0.001)
    await without_backoff(runtime)
    return task


async def without_backoff(runtime: Runtime) -> None:
    assert runtime.croupier is not None

    async def no_wait(_seconds: float) -> None:
        await asyncio.sleep(0)

    runtime.croupier.executor.sleep = no_wait
    await runtime.croupier.wait_idle()


def read_report(runtime: Runtime) -> dict:
    assert runtime.report_path is not None, "no session report"
    return msgspec.json.decode(runtime.report_path.read_bytes())
