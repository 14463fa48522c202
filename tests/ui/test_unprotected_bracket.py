"""A bracket whose stop-loss is gone from the exchange is shown unprotected, on the REAL runtime and console.

Seeded sim, ManualClock, inline sensors, no timers. Once brackets are PROTECTED, one stop-loss is cancelled
on the exchange behind the runtime's back, and the exchange holds the replacement stop unanswered: the
take-profit is still acknowledged, the stop is not, and the row must say so until the new stop is live.
"""

from __future__ import annotations

import asyncio

from rich.text import Text

from casino_tui.app import CasinoApp
from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.engine.brackets.machine import Bracket
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.model import BracketState, OrderRequest, OrderType, OrderUpdate
from casino_tui.runtime import Runtime
from casino_tui.screens.panes.brackets import COLUMNS
from casino_tui.snapshot import BracketRow
from tests.ui.pilot_support import start, wait_until

PROTECTED_COLUMN = [column.key for column in COLUMNS].index("protected")
LOOKS = 2_000  # loop turns before a waited-for condition counts as never met


class SlowStops(SimExchange):
    """The sim, except that while `stops_held` is set, stop-loss sends wait for it to be cleared."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.stops_released = asyncio.Event()
        self.stops_released.set()
        self.stops_waiting = 0

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        if request.type is OrderType.STOP_MARKET and not self.stops_released.is_set():
            self.stops_waiting += 1
            await self.stops_released.wait()
        return await super().place_order(request)


async def runtime_with_protected_brackets() -> tuple[Runtime, SlowStops]:
    config = load_config(None, {"sensors": {"executor": "inline"}}, env={})
    clock = ManualClock()
    exchange = SlowStops(config.sim, config.symbols, clock, autorun=False)
    runtime = Runtime(config, exchange=exchange, clock=clock, use_timers=False)
    await runtime.start()
    await runtime.advance(5 * 60_000, step_ms=2000)
    return runtime, exchange


async def cancel_stop_behind_its_back(runtime: Runtime, exchange: SlowStops) -> Bracket:
    """Cancel one PROTECTED bracket's stop on the exchange, hold its replacement, and wait until the
    runtime has seen the cancel and sent the new stop."""
    assert runtime.croupier is not None
    bracket = next(b for b in runtime.croupier.brackets if b.state is BracketState.PROTECTED)
    exchange.stops_released.clear()
    await exchange.cancel_order(bracket.symbol, bracket.sl_client_id, conditional=True)
    for _ in range(LOOKS):
        if bracket.state is BracketState.OPEN_UNPROTECTED and exchange.stops_waiting:
            break
        await asyncio.sleep(0)
    assert bracket.state is BracketState.OPEN_UNPROTECTED and exchange.stops_waiting == 1, bracket
    # The case in question: the take-profit is live and acknowledged, the stop is not on the exchange.
    assert bracket.tp_acked and not bracket.sl_acked
    legs = {o.type for o in await exchange.open_orders(bracket.symbol) if o.is_conditional}
    assert legs == {OrderType.TAKE_PROFIT_MARKET}, legs
    return bracket


def plain_markup(markup: str) -> str:
    return Text.from_markup(markup).plain


def row_of(runtime: Runtime, bracket: Bracket) -> BracketRow:
    return {row.bracket_id: row for row in runtime.snapshot().brackets}[bracket.id]


async def test_snapshot_row_of_a_bracket_whose_stop_is_missing_is_not_protected_and_at_risk() -> None:
    runtime, exchange = await runtime_with_protected_brackets()
    try:
        bracket = await cancel_stop_behind_its_back(runtime, exchange)

        row = row_of(runtime, bracket)
        assert not row.is_protected
        assert row.state is BracketState.OPEN_UNPROTECTED
        assert row.is_at_risk, "the engine says the position is without its stop"

        exchange.stops_released.set()
        assert runtime.croupier is not None
        await runtime.croupier.wait_idle()
        again = row_of(runtime, bracket)
        assert again.is_protected and not again.is_at_risk, "the replacement stop was acknowledged"
    finally:
        exchange.stops_released.set()
        await runtime.shutdown()


async def test_brackets_pane_marks_the_row_without_its_stop_and_counts_it_unprotected() -> None:
    runtime, exchange = await runtime_with_protected_brackets()
    app = CasinoApp(runtime, live=False)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await start(app, pilot)
            pane = app.console_screen.brackets

            def shown_protected(bracket: Bracket) -> str:
                return plain_markup(pane.table.markup(bracket.id)[PROTECTED_COLUMN])

            bracket = next(b for b in runtime.croupier.brackets if b.state is BracketState.PROTECTED)
            assert shown_protected(bracket) == "✓"
            assert "UNPROTECTED" not in str(pane.border_subtitle)

            assert await cancel_stop_behind_its_back(runtime, exchange) is bracket
            app.refresh_from_snapshot()
            await pilot.pause()
            assert shown_protected(bracket) == "✗"
            assert "1 UNPROTECTED" in plain_markup(str(pane.border_subtitle))

            exchange.stops_released.set()
            await runtime.croupier.wait_idle()
            app.refresh_from_snapshot()
            await wait_until(pilot, lambda: shown_protected(bracket) == "✓", "the row protected again")
            assert "UNPROTECTED" not in str(pane.border_subtitle)
    finally:
        exchange.stops_released.set()
        await runtime.shutdown()
