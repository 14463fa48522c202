"""The header's clock is the runtime's and says which: `SIM 30×` on the sim, whole even at 80 columns."""

from __future__ import annotations

import re

from textual.widgets import Static

from casino_tui.app import CasinoApp
from casino_tui.clock import SimClock
from casino_tui.config import load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.runtime import Runtime
from tests.ui.fake_runtime import FakeRuntime
from tests.ui.pilot_support import plain, start


def sim_runtime(speed: float) -> Runtime:
    config = load_config(None, {"sensors": {"executor": "inline"}, "sim": {"speed": speed}}, env={})
    clock = SimClock(1_767_225_600_000, speed)
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    return Runtime(config, exchange=exchange, clock=clock, use_timers=False)


async def test_on_the_sim_the_header_says_sim_and_the_speed_at_80_columns() -> None:
    app = CasinoApp(sim_runtime(30.0), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        clock = app.console_screen.query_one("#header-clock", Static)
        text = plain(clock)
        assert re.fullmatch(r"\d\d:\d\d:\d\d SIM 30×", text), text
        assert clock.region.width >= len(text) and clock.region.right <= 80, clock.region


async def test_on_the_wall_clock_the_header_says_utc(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        assert plain(app.console_screen.query_one("#header-clock", Static)).endswith(" UTC")
