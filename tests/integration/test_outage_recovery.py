"""Self-healing after an exchange outage: the whole Runtime on the native connector against the sandbox.

The sandbox's server is stopped (every socket dropped, every connection refused) and started again on the
same port, while the exchange's truth changes behind the runtime's back: a position is closed by hand and
another loses its take-profit and stop-loss. Within 10 s of the server coming back, without any operator
command, the snapshot must show what the exchange holds: the same positions, each PROTECTED by legs that
are live on the exchange, the closed one CLOSED, no orphan order, and every circuit breaker CLOSED again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from connector_support import API_KEY, API_SECRET

from casino_tui.clock import ManualClock
from casino_tui.config import (
    Config,
    ExchangeConfig,
    PlayerConfig,
    RuntimeConfig,
    SensorsConfig,
    TradingConfig,
)
from casino_tui.engine.brackets.machine import Bracket
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.exchange.binance.rest import EndpointGroup
from casino_tui.model import BracketState, OrderRequest, OrderType
from casino_tui.paths import state_paths
from casino_tui.port import ExchangeError
from casino_tui.runtime import Runtime
from casino_tui.sandbox import SandboxServer, running_sandbox
from casino_tui.sandbox.admin import SandboxState
from casino_tui.snapshot import RuntimeSnapshot

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
STEP_MS = 1000
DEADLINE_S = 30.0
HEAL_DEADLINE_S = 10.0  # the promise: the screen matches the exchange this soon after it comes back


@dataclass
class Session:
    sandbox: SandboxServer
    runtime: Runtime
    exchange: BinanceExchange
    clock: ManualClock

    async def step(self) -> None:
        self.clock.advance(STEP_MS)
        self.sandbox.sim.pump()
        await asyncio.sleep(0.01)  # let the trades cross the socket before the timer closes candles
        self.runtime.tick()

    def active(self) -> list[Bracket]:
        assert self.runtime.croupier is not None
        return [b for b in self.runtime.croupier.brackets if b.is_active]


async def until(condition: Callable[[], object], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Wait for `condition()` to hold, looking every few milliseconds; fail after the deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out after {deadline_s:g}s waiting for {what}")
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def running_session(state_dir: Path) -> AsyncIterator[Session]:
    clock = ManualClock()
    async with running_sandbox(symbols=SYMBOLS, clock=clock, seed=7) as sandbox:
        config = Config(
            symbols=list(SYMBOLS),
            exchange=ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url),
            sensors=SensorsConfig(executor="inline", shards=1),
            player=PlayerConfig(threshold=0.05, debounce=1, cooldown_s=0.0, htf_filter=False),
            trading=TradingConfig(notional_usdt=200.0, max_positions=len(SYMBOLS)),
            runtime=RuntimeConfig(state_dir=str(state_dir)),
        )
        exchange = BinanceExchange(config.exchange, API_KEY, API_SECRET, clock, testnet=False, seed=11)
        paths = state_paths(state_dir, config.exchange.name).ensure()
        runtime = Runtime(config, paths=paths, exchange=exchange, clock=clock, use_timers=False)
        task = asyncio.create_task(runtime.run(), name="runtime")
        try:
            await until(lambda: runtime.status == "RUNNING" or task.done(), "the runtime to be ready")
            if task.done():
                task.result()
                raise AssertionError(f"runtime ended during startup (status {runtime.status})")
            yield Session(sandbox, runtime, exchange, clock)
        finally:
            runtime.request_stop()
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), DEADLINE_S)


async def open_protected_brackets(s: Session, count: int) -> list[Bracket]:
    """Step the market until `count` brackets are open and all of them PROTECTED; then stop stepping."""
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE_S
    while len(s.active()) < count:
        if loop.time() > end:
            raise AssertionError(f"only {len(s.active())} brackets after {DEADLINE_S:g}s of market")
        await s.step()
    s.runtime.pause()  # no new entries: the test compares a settled book with the exchange
    await until(lambda: all(b.state is BracketState.PROTECTED for b in s.active()), "every bracket PROTECTED")
    assert s.runtime.croupier is not None
    await s.runtime.croupier.wait_idle()
    return s.active()


async def close_by_hand(sandbox: SandboxServer, bracket: Bracket) -> None:
    """What an operator does on the exchange's web page: close the position and cancel its TP and SL."""
    sim = sandbox.sim
    for cid in (bracket.tp_client_id, bracket.sl_client_id):
        await sim.cancel_order(bracket.symbol, cid, conditional=True)
    close = OrderRequest(
        bracket.symbol, bracket.side.opposite, OrderType.MARKET, bracket.qty, "web-close", reduce_only=True
    )
    await sim.place_order(close)


async def strip_legs(sandbox: SandboxServer, bracket: Bracket) -> None:
    """Both protective orders cancelled on the exchange; the position stays open (naked)."""
    for cid in (bracket.tp_client_id, bracket.sl_client_id):
        await sandbox.sim.cancel_order(bracket.symbol, cid, conditional=True)


def mismatches(snap: RuntimeSnapshot, state: SandboxState, brackets: list[Bracket]) -> list[str]:
    """Every way the snapshot differs from the exchange (empty when the screen tells the truth)."""
    problems: list[str] = []
    positions = {p.symbol: p for p in state.positions}
    rows = {r.symbol: r for r in snap.brackets if not r.state.startswith("CLOSED")}
    if set(rows) != set(positions):
        problems.append(f"open rows {sorted(rows)} vs exchange positions {sorted(positions)}")
    if snap.header.open_positions != len(positions):
        problems.append(f"header says {snap.header.open_positions} positions, exchange {len(positions)}")
    for symbol, row in rows.items():
        if row.state != "PROTECTED" or not row.is_protected:
            problems.append(f"{symbol} row {row.state}, protected={row.is_protected}")
        pos = positions.get(symbol)
        if pos is not None and row.qty != pytest.approx(abs(pos.qty)):
            problems.append(f"{symbol} row qty {row.qty} vs exchange {pos.qty}")
    live = {o.client_id for o in state.open_algo_orders + state.open_orders}
    legs = {cid for b in brackets if b.is_active for cid in (b.tp_client_id, b.sl_client_id)}
    if live != legs:
        problems.append(f"orders on the exchange {sorted(live)} vs active legs {sorted(legs)}")
    not_closed = [f"{b.name} {b.state}" for b in snap.breakers if b.state != "CLOSED"]
    if not_closed:
        problems.append(f"breakers not CLOSED: {not_closed}")
    return problems


async def heals_within(
    s: Session, deadline_s: float, check: Callable[[RuntimeSnapshot, SandboxState], Awaitable[list[str]]]
) -> float:
    """Seconds until `check` finds no difference; fails with the last differences after `deadline_s`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    problems: list[str] = ["never looked"]
    while loop.time() - start <= deadline_s:
        problems = await check(s.runtime.snapshot(), await s.sandbox.state())
        if not problems:
            return loop.time() - start
        await asyncio.sleep(0.02)
    raise AssertionError(f"not healed {deadline_s:g}s after the exchange came back: {problems}")


async def test_after_an_outage_the_screen_matches_the_exchange_within_10s_without_a_keypress(
    tmp_path: Path,
) -> None:
    async with running_session(tmp_path) as s:
        kept, closed, naked = await open_protected_brackets(s, 3)
        assert s.exchange.market is not None and s.exchange.user is not None

        await s.sandbox.stop()
        await until(
            lambda: (
                not s.exchange.market.shards[0].loop.connected.is_set()
                and not s.exchange.user.loop.connected.is_set()
            ),
            "both sockets to notice the outage",
        )
        # The operator asks for a reconcile while the exchange is away: it fails and trips the breaker;
        # the user stream's listenKey requests on each reconnect attempt trip its own.
        with pytest.raises(ExchangeError):
            await s.runtime.reconcile()
        for group in (EndpointGroup.ACCOUNT, EndpointGroup.USER_STREAM):
            await until(lambda g=group: s.exchange.breakers[g].is_open, f"the {group} breaker to open")
        await close_by_hand(s.sandbox, closed)
        await strip_legs(s.sandbox, naked)

        await s.sandbox.start()

        async def check(snap: RuntimeSnapshot, state: SandboxState) -> list[str]:
            return mismatches(snap, state, s.active())

        await heals_within(s, HEAL_DEADLINE_S, check)

        state = await s.sandbox.state()
        assert {p.symbol for p in state.positions} == {kept.symbol, naked.symbol}
        rows = {r.bracket_id: r for r in s.runtime.snapshot().brackets}
        assert rows[closed.id].state.startswith("CLOSED"), rows[closed.id]
        assert rows[kept.id].state is BracketState.PROTECTED, "an untouched bracket stays as it was"
        repaired = next(b for b in s.active() if b.symbol == naked.symbol)
        assert {repaired.tp_client_id, repaired.sl_client_id} <= {o.client_id for o in state.open_algo_orders}
