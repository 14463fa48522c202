"""Crash recovery: a restart after a SIGKILL leaves no orphan orders, no duplicate entries and no position
without its stop.

The first test rebuilds one crash by hand (the stop-loss sent, the process killed before its take-profit)
and restarts a Runtime on it in-process. The second runs `benchmarks/chaos.py` briefly: the sandbox and the
engine as separate processes, the engine SIGKILLed at random moments, at each named crash point and in the
middle of an emergency sweep, and stopped with SIGTERM right after a sweep began (which must still end flat).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from casino_tui.clock import ManualClock
from casino_tui.config import Config, ExchangeConfig, PlayerConfig, RuntimeConfig, SensorsConfig
from casino_tui.crashpoints import POINTS
from casino_tui.engine.brackets.machine import Bracket, Leg, bracket_id, client_id
from casino_tui.engine.journal import Journal
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.model import BracketState, OrderRequest, OrderType, Side
from casino_tui.paths import state_paths
from casino_tui.runtime import Runtime
from casino_tui.sandbox import running_sandbox

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sandbox-key"
API_SECRET = "sandbox-secret"
SYMBOL = "BTCUSDT"
QTY = 0.002
DEADLINE_S = 20.0
# A random kill, each crash point once, a sweep SIGKILLed, a sweep then SIGTERM, a random kill again.
CHAOS_KILLS = len(POINTS) + 4
CHAOS_DEADLINE_S = 300.0


async def _poll(condition, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE_S
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out after {DEADLINE_S:g}s waiting for {what}")
        await asyncio.sleep(0.005)


async def test_restart_after_a_kill_between_stop_and_take_profit_keeps_the_stop_and_never_resends_it(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with running_sandbox(symbols=[SYMBOL], clock=clock, seed=7) as sandbox:
        exchange_config = ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url)
        # The first life, as far as the exchange saw it: a filled entry and its stop-loss, no take-profit.
        first = BinanceExchange(exchange_config, API_KEY, API_SECRET, clock, testnet=False, seed=3)
        await first.symbol_rules()
        entry_request = OrderRequest(
            SYMBOL, Side.BUY, OrderType.MARKET, QTY, client_id(1, Leg.ENTRY, 0, SYMBOL)
        )
        entry = await first.place_order(entry_request)
        sl_id = client_id(1, Leg.SL, 0, SYMBOL)
        stop_request = OrderRequest(
            SYMBOL,
            Side.SELL,
            OrderType.STOP_MARKET,
            QTY,
            sl_id,
            close_position=True,
            trigger_price=round(entry.avg_price * 0.98, 1),
        )
        await first.place_order(stop_request)
        await first.stop()
        # ... and as far as its journal got: the bracket filled (written at its last transition, before the
        # stop's id was chosen), the entry answered, the stop's intent committed, its answer never recorded.
        paths = state_paths(tmp_path, "binance").ensure()
        journal = Journal(paths.journal)
        bracket = Bracket(
            id=bracket_id(1),
            seq=1,
            symbol=SYMBOL,
            side=Side.BUY,
            qty=QTY,
            entry_client_id=entry_request.client_id,
            entry_price=entry.avg_price,
            state=BracketState.OPEN_UNPROTECTED,
        )
        journal.record_bracket(bracket)
        await journal.record_intent(entry_request)
        journal.record_ack(entry)
        await journal.record_intent(stop_request)
        journal.close()

        config = Config(
            symbols=[SYMBOL],
            exchange=exchange_config,
            sensors=SensorsConfig(executor="inline", shards=1),
            player=PlayerConfig(threshold=0.9),
            runtime=RuntimeConfig(state_dir=str(tmp_path)),
        )
        exchange = BinanceExchange(exchange_config, API_KEY, API_SECRET, clock, testnet=False, seed=11)
        runtime = Runtime(config, paths=paths, exchange=exchange, clock=clock, use_timers=False)
        task = asyncio.create_task(runtime.run(), name="runtime")
        try:
            await _poll(lambda: runtime.status == "RUNNING" or task.done(), "the restart to be ready")
            assert not task.done(), f"the runtime ended during startup: {task.exception()!r}"
            croupier = runtime.croupier
            assert croupier is not None
            await croupier.wait_idle()

            recovered = croupier.book.bracket_for(SYMBOL)
            assert recovered is not None and recovered.id == bracket.id
            assert recovered.state is BracketState.PROTECTED, (recovered.state, recovered.note)
            assert recovered.sl_client_id == sl_id, "the restart must take over the stop it had sent"
            state = await sandbox.state()
            assert state.orders_received[sl_id] == 1, f"{sl_id} sent {state.orders_received[sl_id]} times"
            assert all(n == 1 for n in state.orders_received.values()), state.orders_received
            legs = {o.client_id: o.type for o in state.open_algo_orders}
            assert legs == {
                sl_id: OrderType.STOP_MARKET,
                recovered.tp_client_id: OrderType.TAKE_PROFIT_MARKET,
            }
            assert [(p.symbol, p.qty) for p in state.positions] == [(SYMBOL, QTY)]
        finally:
            runtime.request_stop()
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), DEADLINE_S)


@pytest.mark.slow
@pytest.mark.timeout(CHAOS_DEADLINE_S + 30)
def test_chaos_kills_leave_no_orphans_no_duplicates_no_naked_positions(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASINO_", "BINANCE_"))}
    args = [sys.executable, str(ROOT / "benchmarks" / "chaos.py"), "--kills", str(CHAOS_KILLS)]
    args += ["--seed", "5", "--workdir", str(tmp_path / "chaos"), "--keep"]
    args += ["--max-delay", "2", "--armed-timeout", "12", "--early-share", "0", "--operator-wait", "30"]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=CHAOS_DEADLINE_S)

    assert done.returncode == 0, (
        f"chaos.py exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    story = f"{done.stdout[-4000:]}\n(logs in {tmp_path / 'chaos'})"
    assert result["kills"] == CHAOS_KILLS, story
    kinds = {"random": 2, **dict.fromkeys(POINTS, 1), "sweep_kill": 1, "sweep_term": 1}
    assert result["kills_by_kind"] == kinds, story
    zero = ("orphan_orders", "duplicate_entries", "naked_positions", "failed_restarts")
    for count in (*zero, "sweeps_not_flat", "failed_stops"):
        assert result[count] == 0, f"{count} = {result[count]}\n{story}"
    assert result["sweeps_killed_midway"] == 1, f"the SIGKILL landed inside the sweep: {story}"
    (swept,) = result["details"]["sweep_term"]
    assert swept["had_position"] and swept["exit"] == 0, f"the sweep then SIGTERM closed something: {story}"
    assert result["unexpected_exits"] == 0, story
    # The run did what it is for: the engine traded, the restarts were checked, and crash points fired.
    assert result["entries_sent"] >= 1, story
    assert result["checks"] >= 1 and result["restarts_ready"] >= 1, story
    assert sum(result["crash_points_reached"].values()) >= 1, story
