"""Hundreds of rows stay usable: rows needing attention come first, `/` filters by typing, Esc clears; and a
refresh redraws only what changed."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.strip import Strip

from casino_tui.screens.attention import FilterBar
from casino_tui.screens.help import help_sections
from casino_tui.screens.panes.table import Column, KeyedTable
from tests.ui.fake_runtime import FakeRuntime
from tests.ui.pilot_support import start, wait_until

SIZE = (160, 48)


async def test_typing_after_slash_shows_only_symbols_containing_the_text(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        screen = app.console_screen
        await pilot.press("slash")
        await wait_until(pilot, lambda: screen.filter_bar.has_focus, "the filter input focused")
        await pilot.press("e", "t")
        await wait_until(pilot, lambda: screen.streams.table.row_keys == ("ETHUSDT",), "streams narrowed")
        assert screen.consensus.table.row_keys == ("ETHUSDT",)
        assert "1 of 8 symbols" in str(screen.streams.border_subtitle)
        assert set(screen.brackets.table.row_keys) <= {"b-0002", "b-0003"}  # ETH's, and the naked XRP one


async def test_escape_clears_the_filter_and_every_symbol_returns(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        screen = app.console_screen
        await pilot.press("slash", "s", "o", "l", "enter")
        await wait_until(pilot, lambda: screen.consensus.table.row_keys == ("SOLUSDT",), "narrowed")
        assert screen.consensus.table.has_focus  # Enter keeps the filter and returns to the tables
        assert screen.filter_bar.display  # the filter in force stays visible

        await pilot.press("escape")
        everything = {row.symbol for row in fake.snapshot().consensus}
        await wait_until(pilot, lambda: set(screen.consensus.table.row_keys) == everything, "all back")
        assert set(screen.streams.table.row_keys) == everything
        assert not screen.filter_bar.display
        assert screen.filter_bar.value == ""


async def test_an_unprotected_position_stays_in_view_whatever_the_filter(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        screen = app.console_screen
        await pilot.press("slash", "b", "t", "c")
        await wait_until(pilot, lambda: screen.streams.table.row_keys == ("BTCUSDT",), "narrowed to BTC")
        # b-0003 is the XRP position without its stop: it needs attention more than any filter.
        assert screen.brackets.table.row_keys == ("b-0003", "b-0001")
        assert "1 UNPROTECTED" in str(screen.brackets.border_subtitle)


async def test_quiet_streams_come_first_then_slow_ones_then_the_rest(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        keys = app.console_screen.streams.table.row_keys
        # LINKUSDT: no trade for 41 s (quiet), ADAUSDT for 7.2 s (slow); the rest keep the runtime's order.
        assert keys == (
            "LINKUSDT",
            "ADAUSDT",
            "BTCUSDT",
            "ETHUSDT",
            "SOLUSDT",
            "BNBUSDT",
            "XRPUSDT",
            "DOGEUSDT",
        )


async def test_consensus_shows_degraded_symbols_first_then_the_strongest_scores(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        keys = app.console_screen.consensus.table.row_keys
        # Shard 3 (LINK 0.21, BNB -0.15) is degraded; then |score| 0.73, 0.61, 0.42, 0.33, 0.08, 0.0.
        assert keys == (
            "LINKUSDT",
            "BNBUSDT",
            "XRPUSDT",
            "ETHUSDT",
            "BTCUSDT",
            "DOGEUSDT",
            "SOLUSDT",
            "ADAUSDT",
        )


def spy_on_rendered_lines(table: KeyedTable) -> list[int]:
    """Record the y of every line the table renders from now on."""
    rendered: list[int] = []
    render_line = table.render_line

    def recording(y: int) -> Strip:
        rendered.append(y)
        return render_line(y)

    table.render_line = recording  # type: ignore[method-assign]
    return rendered


async def test_a_changed_price_redraws_its_own_line_and_no_other(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        table = app.console_screen.streams.table
        rendered = spy_on_rendered_lines(table)
        fake.set_price("SOLUSDT", 146.07)
        app.refresh_from_snapshot()
        await wait_until(pilot, lambda: rendered, "a repaint")
        await pilot.pause()
        sol_line = 1 + table.row_keys.index("SOLUSDT")  # below the header line
        assert set(rendered) == {sol_line}
        assert "146.07" in table.render_line(sol_line).text


async def test_a_refresh_with_nothing_changed_redraws_nothing(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        tables = list(app.console_screen.query(KeyedTable))
        spies = [spy_on_rendered_lines(table) for table in tables]
        app.refresh_from_snapshot()
        await pilot.pause()
        await pilot.pause()
        assert [len(spy) for spy in spies] == [0] * len(tables)


async def test_the_filter_bar_starts_hidden(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert not app.console_screen.query_one(FilterBar).display


async def test_help_lists_the_filter_key(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        rows = {row.keys: row for row in help_sections(app.BINDINGS)[0].rows}
        assert rows["/"].action == "Filter"
        assert "Esc" in rows["/"].detail


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable((Column("symbol", "Symbol", 10), Column("last", "Last", 8, "right")))


def rows(price: Callable[[int], str]) -> list[tuple[str, tuple[str, str]]]:
    return [(f"S{i:03d}USDT", (f"S{i:03d}USDT", price(i))) for i in range(100)]


async def test_rows_out_of_view_are_written_when_they_come_into_view() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync(rows(lambda i: "1"))
        await pilot.pause()
        rendered = spy_on_rendered_lines(table)
        table.sync(rows(str))
        await pilot.pause()
        assert rendered and max(rendered) < table.size.height  # only the lines in view were drawn again
        assert str(table.get_cell("S099USDT", "last")) == "1"  # not yet: nobody can see it

        table.scroll_end(animate=False, immediate=True)
        last = table.size.height - 1
        await wait_until(pilot, lambda: str(table.get_cell("S099USDT", "last")) == "99", "written in view")
        assert table.render_line(last).text.split() == ["S099USDT", "99"]
