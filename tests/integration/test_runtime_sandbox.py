"""The whole Runtime against the Binance-protocol sandbox over real sockets, with the native connector.

In-process tests share one ManualClock between the sandbox and the runtime and step the market only while
they wait for market-driven things (ticks, closes, a decision); order work needs no market movement, so
they stop stepping once a bracket exists, and a PROTECTED bracket stays put while it is inspected.
The subprocess tests run `casino-tui sandbox` and `casino-tui --headless` as separate processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
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
from casino_tui.engine.state import PersistedState
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.model import BracketState, OrderType, Side
from casino_tui.paths import state_paths
from casino_tui.runtime import Runtime
from casino_tui.sandbox import SandboxServer, running_sandbox
from casino_tui.sandbox.serve import BANNER_BASE_URL
from casino_tui.storage import SnapshotStore

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
STEP_MS = 1000
DEADLINE_S = 20.0
PROCESS_DEADLINE_S = 60.0
_SETTLING = (BracketState.PENDING_ENTRY, BracketState.OPEN_UNPROTECTED)


@dataclass
class Session:
    """A started Runtime over a BinanceExchange pointed at an in-process sandbox."""

    sandbox: SandboxServer
    runtime: Runtime
    clock: ManualClock
    task: asyncio.Task[None]
    pumped: int = 0

    async def step(self) -> None:
        """One second of market: the sim trades, every trade crosses the socket, then the runtime's timer
        runs (after the trades, so candle closes do not depend on socket timing)."""
        self.clock.advance(STEP_MS)
        self.pumped += self.sandbox.sim.pump()
        engine = self.runtime.engine
        await poll(lambda: engine.ticks >= self.pumped, f"{self.pumped} pumped trades to reach the engine")
        self.runtime.tick()

    async def run_market_until(self, condition: Callable[[], object], what: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE_S
        while not condition():
            if loop.time() > end:
                raise AssertionError(f"timed out after {DEADLINE_S:g}s of market waiting for {what}")
            await self.step()

    async def first_brackets(self) -> None:
        """Step the market until the runtime opens a bracket, then let order work finish without stepping."""
        croupier = self.runtime.croupier
        assert croupier is not None
        await self.run_market_until(lambda: croupier.brackets, "the runtime to open a bracket")
        await poll(
            lambda: not any(b.state in _SETTLING for b in croupier.brackets),
            "entries filled and legs acknowledged",
        )
        await croupier.wait_idle()

    async def stop(self) -> None:
        self.runtime.request_stop()
        await asyncio.wait_for(asyncio.shield(self.task), DEADLINE_S)


async def poll(condition: Callable[[], object], what: str) -> None:
    """Wait until `condition()` is truthy, looking every couple of milliseconds; fail after the deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE_S
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out after {DEADLINE_S:g}s waiting for {what}")
        await asyncio.sleep(0.002)


def session_config(sandbox: SandboxServer, state_dir: Path) -> Config:
    """Quick decisions: low threshold, one close, no HTF filter, no cooldown; room for every symbol."""
    return Config(
        symbols=list(SYMBOLS),
        exchange=ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url),
        sensors=SensorsConfig(executor="inline", shards=1),
        player=PlayerConfig(threshold=0.05, debounce=1, cooldown_s=0.0, htf_filter=False),
        trading=TradingConfig(notional_usdt=200.0, max_positions=len(SYMBOLS)),
        runtime=RuntimeConfig(state_dir=str(state_dir)),
    )


@contextlib.asynccontextmanager
async def running_session(state_dir: Path) -> AsyncIterator[Session]:
    clock = ManualClock()
    async with running_sandbox(symbols=SYMBOLS, clock=clock, seed=7) as sandbox:
        config = session_config(sandbox, state_dir)
        exchange = BinanceExchange(config.exchange, API_KEY, API_SECRET, clock, testnet=False, seed=11)
        paths = state_paths(state_dir, config.exchange.name).ensure()
        runtime = Runtime(config, paths=paths, exchange=exchange, clock=clock, use_timers=False)
        task = asyncio.create_task(runtime.run(), name="runtime")
        session = Session(sandbox, runtime, clock, task)
        try:
            await poll(lambda: runtime.status == "RUNNING" or task.done(), "the runtime to be ready")
            if task.done():
                task.result()  # re-raise what stopped the startup
                raise AssertionError(f"runtime ended during startup (status {runtime.status})")
            yield session
        finally:
            runtime.request_stop()
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), DEADLINE_S)


async def test_trades_arrive_over_the_websocket_and_close_candles(tmp_path: Path) -> None:
    async with running_session(tmp_path) as s:
        feed = s.sandbox.venue.market_feed

        def every_symbol_ticking() -> bool:
            rows = s.runtime.snapshot().streams
            return len(rows) == len(SYMBOLS) and all(r.last > 0 and r.ticks_per_s > 0 for r in rows)

        await s.run_market_until(every_symbol_ticking, "ticks on every symbol in the snapshot")
        await s.run_market_until(
            lambda: s.runtime.engine.candles_closed >= len(SYMBOLS), "1m candles to close"
        )

        # Every trade the sim made crossed the socket, so the engine's last prices are the sandbox's.
        snap = s.runtime.snapshot()
        assert snap.counters.ticks == s.pumped
        assert {r.symbol: r.last for r in snap.streams} == pytest.approx(
            {sym: feed.last_price[sym] for sym in SYMBOLS}
        )
        assert snap.header.exchange == "binance" and snap.header.mode == "PAPER"
        assert snap.counters.ticks > 0 and snap.counters.candles_closed >= len(SYMBOLS)
        assert not snap.header.is_stale


async def test_runtime_opens_a_bracket_protected_by_algo_tp_and_sl_on_the_sandbox(tmp_path: Path) -> None:
    async with running_session(tmp_path) as s:
        await s.first_brackets()
        croupier = s.runtime.croupier
        assert croupier is not None
        protected = [b for b in croupier.brackets if b.state is BracketState.PROTECTED]
        assert protected, f"no PROTECTED bracket: {[(b.id, b.state, b.note) for b in croupier.brackets]}"

        state = await s.sandbox.state()
        positions = {p.symbol: p for p in state.positions}
        algos = {o.client_id: o for o in state.open_algo_orders}
        assert state.open_orders == [], "TP and SL must be algo orders, not plain ones"
        for bracket in protected:
            position = positions.get(bracket.symbol)
            assert position is not None, f"{bracket.id}: no position for {bracket.symbol} on the sandbox"
            assert position.qty == pytest.approx(bracket.qty * bracket.side.sign)
            tp, sl = algos.get(bracket.tp_client_id), algos.get(bracket.sl_client_id)
            assert tp is not None and sl is not None, f"{bracket.id}: legs missing from {sorted(algos)}"
            assert tp.type is OrderType.TAKE_PROFIT_MARKET and sl.type is OrderType.STOP_MARKET
            assert tp.side is sl.side is bracket.side.opposite
            assert tp.trigger_price == pytest.approx(bracket.tp_price)
            assert sl.trigger_price == pytest.approx(bracket.sl_price)
            # The stop sits on the losing side of the entry, the take-profit on the winning side.
            sign = 1 if bracket.side is Side.BUY else -1
            assert (
                sign * (tp.trigger_price - bracket.entry_price)
                > 0
                > sign * (sl.trigger_price - bracket.entry_price)
            )
            for cid in (bracket.entry_client_id, bracket.tp_client_id, bracket.sl_client_id):
                assert state.orders_placed.get(cid) == 1, f"{cid} placed {state.orders_placed.get(cid)} times"
        rows = {r.bracket_id: r for r in s.runtime.snapshot().brackets}
        assert all(rows[b.id].is_protected and rows[b.id].state is BracketState.PROTECTED for b in protected)


async def test_sweep_leaves_the_sandbox_flat_and_shutdown_writes_the_report(tmp_path: Path) -> None:
    async with running_session(tmp_path) as s:
        await s.first_brackets()
        croupier = s.runtime.croupier
        assert croupier is not None
        opened = croupier.brackets_opened
        assert opened >= 1 and (await s.sandbox.state()).positions

        result = await s.runtime.sweep()
        await croupier.wait_idle()

        assert result.is_flat, result.message
        state = await s.sandbox.state()
        assert state.positions == [], f"positions left: {state.positions}"
        assert state.open_orders == [] and state.open_algo_orders == []
        assert s.runtime.is_paused, "a sweep pauses new entries"
        assert croupier.open_count == 0

        await s.stop()
        path = s.runtime.report_path
        assert path is not None and path.is_file(), f"no session report (report_path={path})"
        assert path.parent == tmp_path / "binance" / "reports"
        report = msgspec.json.decode(path.read_bytes())
        assert report["exchange"] == "binance" and report["symbols"] == SYMBOLS
        assert report["brackets_opened"] == opened and report["brackets_closed"] == opened
        assert report["open_positions"] == 0
        assert report["ticks"] > 0 and report["candles_closed"] > 0 and report["decisions"] >= opened
        assert report["end_balance"] == pytest.approx(state.balance.wallet, abs=1e-6)


# -- separate processes: `casino-tui sandbox` and `casino-tui --headless` ---------------------------------

_SANDBOX_LINE = BANNER_BASE_URL


def _clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The parent's environment without keys or CASINO_* settings, with config/state dirs under `tmp`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CASINO_", "BINANCE_")) and k not in ("NO_COLOR", "TEXTUAL_THEME")
    }
    env.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_STATE_HOME=str(tmp / "state"), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`casino-tui sandbox --port 0` in its own process; yields the base URL it prints."""
    tmp = tmp_path_factory.mktemp("sandbox")
    proc = subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "sandbox", "--port", "0", "--symbols", "BTCUSDT,ETHUSDT"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp,
        env=_clean_env(tmp),
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keep reading so the sandbox never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        seen: list[str] = []
        while True:
            line = lines.get(timeout=PROCESS_DEADLINE_S)
            if line is None:
                raise AssertionError(f"sandbox exited before serving: {''.join(seen)}")
            seen.append(line)
            if match := _SANDBOX_LINE.search(line):
                break
        yield match.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(PROCESS_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _headless(base_url: str, state_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    ws_url = "ws://" + base_url.removeprefix("http://")
    args = [
        sys.executable,
        "-m",
        "casino_tui.cli",
        "--headless",
        "--exchange",
        "binance",
        "--rest-url",
        base_url,
        "--ws-url",
        ws_url,
        "--symbols",
        "BTCUSDT,ETHUSDT",
        "--timeout",
        "8",
        "--state-dir",
        str(state_dir),
    ]
    return subprocess.run(
        args, capture_output=True, text=True, cwd=state_dir, env=env, timeout=PROCESS_DEADLINE_S
    )


def test_headless_run_against_the_sandbox_process_exits_0_with_the_report_line(
    sandbox_process: str, tmp_path: Path
) -> None:
    env = _clean_env(
        tmp_path,
        BINANCE_API_KEY=API_KEY,
        BINANCE_API_SECRET=API_SECRET,
        CASINO_SENSORS_EXECUTOR="inline",
    )
    done = _headless(sandbox_process, tmp_path, env)

    assert done.returncode == 0, f"exit {done.returncode}\nstdout tail:\n{done.stdout[-2000:]}\n{done.stderr}"
    last = done.stdout.rstrip("\n").splitlines()[-1]
    assert last.startswith("report: "), f"last stdout line: {last!r}"
    path = Path(last.removeprefix("report: "))
    assert path.is_file() and path.is_relative_to(tmp_path)
    report = msgspec.json.decode(path.read_bytes())
    assert report["exchange"] == "binance" and report["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert report["start_balance"] > 0


def test_headless_with_a_wrong_secret_exits_2_with_one_line_that_hides_the_secret(
    sandbox_process: str, tmp_path: Path
) -> None:
    wrong = "wrong-secret-7f3a9c0d1e"
    env = _clean_env(
        tmp_path, BINANCE_API_KEY=API_KEY, BINANCE_API_SECRET=wrong, CASINO_SENSORS_EXECUTOR="inline"
    )
    done = _headless(sandbox_process, tmp_path, env)

    assert done.returncode == 2, f"exit {done.returncode}\nstderr:\n{done.stderr}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{done.stderr}"
    assert "-1022" in lines[0] or "signature" in lines[0].lower(), lines[0]
    assert wrong not in done.stdout + done.stderr
    logs = list(tmp_path.rglob("*.log"))
    assert all(wrong not in log.read_text(errors="replace") for log in logs)


def test_headless_restart_while_a_saved_breaker_is_open_waits_its_cooldown_and_exits_0(
    sandbox_process: str, tmp_path: Path
) -> None:
    """The last run's snapshot left the account breaker OPEN: start-up waits it out instead of crashing."""
    paths = state_paths(tmp_path, "binance").ensure()
    breakers = {"account": {"state": "OPEN", "reason": "RetriableError 503", "cooldown_s": 2.0}}
    SnapshotStore(paths.snapshots).save(PersistedState(saved_ms=1, breakers=breakers))
    env = _clean_env(
        tmp_path, BINANCE_API_KEY=API_KEY, BINANCE_API_SECRET=API_SECRET, CASINO_SENSORS_EXECUTOR="inline"
    )
    done = _headless(sandbox_process, tmp_path, env)

    output = done.stdout + done.stderr
    assert done.returncode == 0, f"exit {done.returncode}\nstdout tail:\n{done.stdout[-2000:]}\n{done.stderr}"
    assert "Traceback" not in output, output[-3000:]
    assert "account breaker is OPEN" in done.stdout and "for its cooldown" in done.stdout, done.stdout[-3000:]
    assert done.stdout.rstrip("\n").splitlines()[-1].startswith("report: ")
