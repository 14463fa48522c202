"""The console over the REAL runtime: seeded sim, ManualClock, inline sensors, no timers — deterministic."""

from __future__ import annotations

from textual.pilot import Pilot

from casino_tui.app import CasinoApp
from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.runtime import Runtime
from tests.ui.pilot_support import start
from tests.ui.test_unprotected_bracket import SlowStops, cancel_stop_behind_its_back


def seeded_runtime() -> Runtime:
    # Two shards whatever the machine (the default fits the cores): the snapshots show the shard column.
    config = load_config(None, {"sensors": {"executor": "inline", "shards": 2}}, env={})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    return Runtime(config, exchange=exchange, clock=clock, use_timers=False)


def after_minutes(runtime: Runtime, minutes: int):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        await runtime.start()
        await runtime.advance(minutes * 60_000, step_ms=2000)
        app = pilot.app
        assert isinstance(app, CasinoApp)
        await start(app, pilot)

    return run_before


class TestRealRuntime:
    def test_seeded_sim_after_five_minutes_80x24(self, snap_compare) -> None:
        """Real sim prices, consensus with 1h trend, two PROTECTED short brackets, RUNNING header at 00:05."""
        runtime = seeded_runtime()
        app = CasinoApp(runtime, live=False)
        assert snap_compare(app, terminal_size=(80, 24), run_before=after_minutes(runtime, 5))

    def test_seeded_sim_after_five_minutes_160x48(self, snap_compare) -> None:
        """The same run at 160x48: every column, sparklines of the 1m closes, shard column."""
        runtime = seeded_runtime()
        app = CasinoApp(runtime, live=False)
        assert snap_compare(app, terminal_size=(160, 48), run_before=after_minutes(runtime, 5))

    def test_a_position_without_its_stop_80x24(self, snap_compare) -> None:
        """A stop-loss cancelled behind the runtime's back, its replacement unanswered: the row is red from end
        to end at the top, ✗ under Prot, and the subtitle counts 1 UNPROTECTED."""
        config = load_config(None, {"sensors": {"executor": "inline"}}, env={})
        clock = ManualClock()
        exchange = SlowStops(config.sim, config.symbols, clock, autorun=False)
        runtime = Runtime(config, exchange=exchange, clock=clock, use_timers=False)

        async def run_before(pilot: Pilot[None]) -> None:
            await runtime.start()
            await runtime.advance(5 * 60_000, step_ms=2000)
            await cancel_stop_behind_its_back(runtime, exchange)
            app = pilot.app
            assert isinstance(app, CasinoApp)
            await start(app, pilot)

        try:
            assert snap_compare(CasinoApp(runtime, live=False), terminal_size=(80, 24), run_before=run_before)
        finally:
            exchange.stops_released.set()
