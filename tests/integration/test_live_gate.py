"""The live gate gates: until the operator confirms, the sandbox sees no request that could trade.

The console test runs the real console wiring (`console_app` + `engine_running`) through Textual's pilot
with `--exchange binance --live` pointed at an in-process sandbox over real sockets; the headless tests run
`casino-tui --headless` as a separate process. The sandbox logs every REST request it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

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
from casino_tui.console import console_app, engine_running
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.paths import state_paths
from casino_tui.runtime import Runtime
from casino_tui.sandbox import SandboxServer, running_sandbox
from casino_tui.screens.confirm import LiveGateScreen

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
DEADLINE_S = 30.0
SIZE = (120, 40)
LISTEN_KEY = ("POST", "/fapi/v1/listenKey")


def writes(sandbox: SandboxServer) -> list[tuple[str, str]]:
    """Every request that changes something on the exchange: orders, algo orders, listenKeys, leverage."""
    routes = [tuple(route.split(" ", 1)) for route in sandbox.venue.requests.by_route]
    return [(method, path) for method, path in routes if method != "GET"]


def order_requests(sandbox: SandboxServer) -> list[tuple[str, str]]:
    return [r for r in writes(sandbox) if "order" in r[1].lower() or "listenkey" in r[1].lower()]


async def poll(condition: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE_S
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out after {DEADLINE_S:g}s waiting for {what}")
        await asyncio.sleep(0.005)


@dataclass
class LiveConsole:
    sandbox: SandboxServer
    clock: ManualClock
    runtime: Runtime

    async def step(self) -> None:
        """One second of market: the sim trades, the trades cross the socket, then the runtime's timer."""
        self.clock.advance(1000)
        pumped = self.sandbox.sim.pump()
        ticks = self.runtime.engine.ticks
        await poll(lambda: self.runtime.engine.ticks >= ticks + pumped, "trades to reach the engine")
        self.runtime.tick()

    async def market_until(self, condition: Callable[[], object], what: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE_S
        while not condition():
            if loop.time() > end:
                raise AssertionError(f"timed out after {DEADLINE_S:g}s of market waiting for {what}")
            await self.step()


def live_config(sandbox: SandboxServer, state_dir: Path) -> Config:
    """`--exchange binance --live` at the sandbox, with a player eager to trade at every close."""
    return Config(
        symbols=list(SYMBOLS),
        exchange=ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url, live=True),
        sensors=SensorsConfig(executor="inline", shards=1),
        player=PlayerConfig(threshold=0.05, debounce=1, cooldown_s=0.0, htf_filter=False),
        trading=TradingConfig(notional_usdt=200.0, max_positions=len(SYMBOLS)),
        runtime=RuntimeConfig(state_dir=str(state_dir)),
    )


@contextlib.asynccontextmanager
async def live_console(state_dir: Path) -> AsyncIterator[LiveConsole]:
    clock = ManualClock()
    async with running_sandbox(symbols=SYMBOLS, clock=clock, seed=7) as sandbox:
        config = live_config(sandbox, state_dir)
        exchange = BinanceExchange(config.exchange, API_KEY, API_SECRET, clock, testnet=False, seed=11)
        paths = state_paths(state_dir, config.exchange.name).ensure()
        runtime = Runtime(config, paths=paths, exchange=exchange, clock=clock, use_timers=False)
        assert runtime.mode == "LIVE"
        yield LiveConsole(sandbox, clock, runtime)


async def test_console_gate_sends_no_order_request_while_open_nor_after_escape(tmp_path: Path) -> None:
    async with live_console(tmp_path) as live:
        runtime, sandbox = live.runtime, live.sandbox
        app = console_app(runtime, runtime.config)
        async with engine_running(runtime, app) as engine:
            async with app.run_test(size=SIZE) as pilot:
                await poll(
                    lambda: runtime.status == "UNCONFIRMED" or engine.done(), "the runtime at the gate"
                )
                assert isinstance(app.screen, LiveGateScreen)
                # The market streams behind the gate and the player decides; nothing reaches the exchange.
                warm = runtime.snapshot().counters.decisions
                await live.market_until(
                    lambda: runtime.snapshot().counters.decisions > warm, "a decision on a live candle close"
                )
                assert runtime.engine.candles_closed > 0 and runtime.croupier is None
                assert writes(sandbox) == []
                await pilot.press("escape")
        assert engine.exception() is None
        assert app.return_code == 2
        assert runtime.status == "STOPPED"
        assert order_requests(sandbox) == [] and writes(sandbox) == []
        state = await sandbox.state()
        assert state.positions == [] and state.open_algo_orders == [] and state.active_listen_keys == 0


async def test_console_gate_lets_the_account_connect_only_after_live_is_typed(tmp_path: Path) -> None:
    async with live_console(tmp_path) as live:
        runtime, sandbox = live.runtime, live.sandbox
        app = console_app(runtime, runtime.config)
        async with engine_running(runtime, app) as engine:
            async with app.run_test(size=SIZE) as pilot:
                await poll(
                    lambda: runtime.status == "UNCONFIRMED" or engine.done(), "the runtime at the gate"
                )
                await poll(lambda: app.focused is not None, "the phrase field focused")
                assert writes(sandbox) == []
                await pilot.press("L", "I", "V", "E", "enter")
                await poll(lambda: runtime.status == "RUNNING" or engine.done(), "the runtime running")
                assert LISTEN_KEY in writes(sandbox)
                app.exit()
        assert engine.exception() is None


async def run_headless_live(
    sandbox: SandboxServer, state_dir: Path, *args: str, **env: str
) -> tuple[int, str, str]:
    """`casino-tui --headless --exchange binance --live` at the sandbox, as its own process."""
    environ = {k: v for k, v in os.environ.items() if k != "CASINO_CONFIRM_LIVE"}
    environ.update(BINANCE_API_KEY=API_KEY, BINANCE_API_SECRET=API_SECRET, CASINO_SENSORS_EXECUTOR="inline")
    environ.update(env)
    command = [sys.executable, "-m", "casino_tui.cli", "--headless", "--exchange", "binance", "--live"]
    command += ["--rest-url", sandbox.base_url, "--ws-url", sandbox.ws_url, "--symbols", ",".join(SYMBOLS)]
    command += ["--state-dir", str(state_dir), *args]
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environ
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_headless_live_without_confirmation_exits_2_before_any_request(tmp_path: Path) -> None:
    async with running_sandbox(symbols=SYMBOLS, seed=7) as sandbox:
        code, out, err = await run_headless_live(sandbox, tmp_path, "--timeout", "5")
        assert code == 2, err
        assert "--confirm-live" in err and err.count("\n") == 1 and "Traceback" not in err
        assert dict(sandbox.venue.requests.by_route) == {}


async def test_headless_live_with_the_wrong_account_exits_2_before_any_request(tmp_path: Path) -> None:
    async with running_sandbox(symbols=SYMBOLS, seed=7) as sandbox:
        code, _, err = await run_headless_live(
            sandbox, tmp_path, "--timeout", "5", CASINO_CONFIRM_LIVE="0000"
        )
        assert code == 2, err
        assert "does not match" in err and err.count("\n") == 1
        assert dict(sandbox.venue.requests.by_route) == {}


async def test_headless_live_confirmed_by_the_key_suffix_trades_on_the_account(tmp_path: Path) -> None:
    async with running_sandbox(symbols=SYMBOLS, seed=7) as sandbox:
        code, out, err = await run_headless_live(
            sandbox, tmp_path, "--timeout", "3", f"--confirm-live={API_KEY[-4:]}"
        )
        assert code == 0, err
        assert out.splitlines()[-1].startswith("report: ")
        assert LISTEN_KEY in writes(sandbox)
