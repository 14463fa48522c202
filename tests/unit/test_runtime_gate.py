"""Runtime start-up gates: LIVE waits for `confirm_live()` with market data only; a stop ends it early."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.paths import StatePaths
from casino_tui.runtime import Runtime

DEADLINE_S = 30.0
# An eager player, so that anything not gated would trade at the first close.
EAGER = {
    "sensors": {"executor": "inline"},
    "player": {"threshold": 0.05, "debounce": 1, "cooldown_s": 0.0, "htf_filter": False},
}


def build(exchange_name: str = "sim", tmp_path: Path | None = None) -> Runtime:
    """A Runtime over the seeded sim; named `binance` + live, its mode is LIVE (the sim stands in)."""
    overrides: dict = dict(EAGER)
    if exchange_name == "binance":
        overrides["exchange"] = {"name": "binance", "live": True}
    config = load_config(None, overrides, env={})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    paths = StatePaths(tmp_path) if tmp_path is not None else None
    return Runtime(config, exchange=exchange, clock=clock, paths=paths, use_timers=False)


async def wait_for(condition: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE_S
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def test_live_runtime_streams_and_decides_but_sends_no_order_until_confirmed() -> None:
    runtime = build("binance")
    assert runtime.mode == "LIVE" and not runtime.is_live_confirmed
    starting = asyncio.create_task(runtime.start())
    await wait_for(lambda: runtime.status == "UNCONFIRMED", "the runtime held at the gate")
    warm = runtime.snapshot().counters.decisions
    await runtime.advance(5 * 60_000, step_ms=2000)
    assert runtime.engine.candles_closed > 0
    assert runtime.snapshot().counters.decisions > warm, "the player must have wanted to trade"
    assert runtime.croupier is None and not starting.done()
    assert await runtime.exchange.positions() == [] and await runtime.exchange.open_orders() == []

    runtime.confirm_live()
    await asyncio.wait_for(starting, DEADLINE_S)
    assert runtime.status == "RUNNING"
    await runtime.advance(5 * 60_000, step_ms=2000)
    assert runtime.snapshot().counters.brackets_opened > 0, "confirmed, the same market trades"
    await runtime.shutdown()


async def test_stop_at_the_live_gate_ends_start_up_without_trading_and_writes_the_report(tmp_path) -> None:
    runtime = build("binance", tmp_path)
    running = asyncio.create_task(runtime.run())
    await wait_for(lambda: runtime.status == "UNCONFIRMED", "the runtime held at the gate")
    runtime.request_stop()
    await asyncio.wait_for(running, DEADLINE_S)
    assert runtime.croupier is None and runtime.status == "STOPPED"
    assert runtime.report_path is not None
    report = json.loads(runtime.report_path.read_text())
    assert report["mode"] == "LIVE" and report["trades"] == 0 and report["open_positions"] == 0


async def test_a_stop_before_start_up_connects_nothing_and_still_reports(tmp_path) -> None:
    runtime = build("sim", tmp_path)
    runtime.request_stop()
    await asyncio.wait_for(runtime.run(), DEADLINE_S)
    # Start-up ended after the symbol rules: no warm-up, no streams, no account, no trading.
    assert runtime.sensors is None and runtime.croupier is None
    assert runtime.engine.ticks == 0
    assert runtime.status == "STOPPED" and runtime.report_path is not None


async def test_paper_runtime_needs_no_confirmation() -> None:
    runtime = build("sim")
    assert runtime.is_live_confirmed
    await asyncio.wait_for(runtime.start(), DEADLINE_S)
    assert runtime.status == "RUNNING"
    await runtime.shutdown()
