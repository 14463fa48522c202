"""The Trades screen: `t` (or the command palette) opens the closed trades newest first, their totals and the
equity curve; it says so when there is none; it follows new closes; after a restart it still lists the
trades of the run before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from casino_tui.app import CasinoApp
from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.paths import StatePaths
from casino_tui.runtime import Runtime
from casino_tui.screens.commands import ConsoleCommands
from casino_tui.screens.console import ConsoleScreen
from casino_tui.screens.equity import EquityPlot
from casino_tui.screens.help import help_sections
from casino_tui.screens.trades import NO_TRADES, TradesScreen
from tests.ui.fake_runtime import FakeRuntime
from tests.ui.pilot_support import plain, start, wait_until


def row_texts(screen: TradesScreen) -> list[list[str]]:
    """Every row's cells as plain text, for every column (shown or not), in display order."""
    table = screen.table
    return [[Text.from_markup(cell).plain for cell in table.markup(key)] for key in table.row_keys]


def trades_shown(app: CasinoApp) -> bool:
    """The Trades screen is on top and has shown the trade history once."""
    return isinstance(app.screen, TradesScreen) and app.screen.version is not None


async def open_trades(app: CasinoApp, pilot: Pilot[None]) -> TradesScreen:
    await start(app, pilot)
    await pilot.press("t")
    await wait_until(pilot, lambda: trades_shown(app), "the Trades screen open")
    screen = app.screen
    assert isinstance(screen, TradesScreen)
    return screen


async def test_t_lists_the_closed_trades_newest_first_with_their_totals(
    fake: FakeRuntime, make_app: Callable[..., CasinoApp]
) -> None:
    fake.close_trades(6)
    history = fake.trade_history()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_trades(app, pilot)
        rows = row_texts(screen)
        assert screen.table.row_keys == tuple(trade.bracket_id for trade in history.recent)
        assert screen.table.row_keys[0] == "B000006"  # the newest close first
        newest = history.recent[0]
        symbol, side, reason, pnl = rows[0][1], rows[0][2], rows[0][5], rows[0][6]
        assert (symbol, side, reason) == (newest.symbol, newest.side, newest.reason.value)
        assert pnl == f"{newest.realized_pnl:+,.2f}"
        summary = plain(screen.query_one("#trades-summary", Static))
        assert summary.startswith("6 trades · win rate ")
        assert f"net PnL {history.totals.net_pnl:+,.2f}" in summary
        assert screen.query_one(EquityPlot).display


async def test_escape_closes_the_trades_screen(fake: FakeRuntime, make_app: Callable[..., CasinoApp]) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_trades(app, pilot)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "back on the console")


async def test_with_no_trade_the_screen_says_so_and_draws_no_empty_plot(
    fake: FakeRuntime, make_app: Callable[..., CasinoApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_trades(app, pilot)
        empty = screen.query_one("#trades-empty", Static)
        assert empty.display and plain(empty) == NO_TRADES
        assert not screen.query_one(EquityPlot).display
        assert not screen.table.display


async def test_a_trade_closing_while_the_screen_is_open_joins_the_top_of_the_list(
    fake: FakeRuntime, make_app: Callable[..., CasinoApp]
) -> None:
    fake.close_trades(2)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_trades(app, pilot)
        shown = screen.table.last_sync
        screen.poll()
        assert screen.table.last_sync is shown  # no trade closed: the table was not synced again
        fake.close_trades(1)
        screen.poll()  # the screen's one-second timer, called now
        await pilot.pause()
        assert screen.table.row_keys[0] == "B000003"
        assert plain(screen.query_one("#trades-summary", Static)).startswith("3 trades")


async def test_the_command_palette_and_help_offer_the_trades_screen(
    fake: FakeRuntime, make_app: Callable[..., CasinoApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        provider = ConsoleCommands(app.screen)
        titles = [title async for hit in provider.discover() for title in [hit.text]]
        assert "Trades" in titles
        console_rows = help_sections(app.BINDINGS)[0].rows
        assert ("t", "Trades", "Closed trades, totals and the equity curve") in console_rows
        await app.run_action("trades")
        await wait_until(pilot, lambda: trades_shown(app), "the palette's action")


QUICK = {"sensors": {"executor": "inline"}, "player": {"cooldown_s": 0.0}}


def sim_runtime(state: Path) -> Runtime:
    config = load_config(None, QUICK, env={})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    return Runtime(config, exchange=exchange, clock=clock, paths=StatePaths(state), use_timers=False)


async def test_after_a_restart_the_trades_screen_lists_the_trades_of_the_run_before(tmp_path: Path) -> None:
    first = sim_runtime(tmp_path)
    await first.start()
    await first.advance(4 * 60_000, step_ms=2000)
    assert (await first.sweep()).is_flat  # every open bracket closes: a trade each
    closed_before = [trade.bracket_id for trade in first.trade_history().recent]
    await first.shutdown()
    assert closed_before

    second = sim_runtime(tmp_path)
    await second.start()
    try:
        app = CasinoApp(second, live=False)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_trades(app, pilot)
            assert list(screen.table.row_keys) == closed_before
            assert all(row[5] for row in row_texts(screen))  # each with its close reason
            assert plain(screen.query_one("#trades-summary", Static)).startswith(
                f"{len(closed_before)} trade"
            )
    finally:
        await second.shutdown()


def trades_open(count: int):  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, CasinoApp)
        await open_trades(app, pilot)
        await pilot.pause()

    return run_before


class TestTradesSnapshots:
    def test_trades_with_an_equity_curve_80x24(self, snap_compare) -> None:
        """24 seeded trades: totals on two lines, the red equity curve under the start balance, the newest
        closes first with entry, exit, reason, PnL, fees and time held (close time and net drop at 80)."""
        fake = FakeRuntime()
        fake.close_trades(24)
        assert snap_compare(CasinoApp(fake, live=False), terminal_size=(80, 24), run_before=trades_open(24))

    def test_trades_with_an_equity_curve_120x40(self, snap_compare) -> None:
        """The same trades at 120x40: a taller curve, the close time and net PnL columns shown."""
        fake = FakeRuntime()
        fake.close_trades(24)
        assert snap_compare(CasinoApp(fake, live=False), terminal_size=(120, 40), run_before=trades_open(24))

    def test_no_trades_yet_80x24(self, snap_compare) -> None:
        """No trade: one line says so; no empty plot, no empty table."""
        fake = FakeRuntime()
        assert snap_compare(CasinoApp(fake, live=False), terminal_size=(80, 24), run_before=trades_open(0))


def test_the_equity_curve_holds_its_value_between_closes() -> None:
    """Realised equity moves only at a close: the drawn line steps there instead of sloping from the last one."""
    from casino_tui.screens.equity import steps

    points = [(0, 100.0), (60_000, 98.0), (60_000, 97.0), (120_000, 97.0), (180_000, 101.0)]
    assert steps(points) == [
        (0, 100.0),
        (60_000, 100.0),
        (60_000, 98.0),
        (60_000, 97.0),
        (120_000, 97.0),
        (180_000, 97.0),
        (180_000, 101.0),
    ]
