"""KeyedTable renders its cells without taking over the render hooks Textual calls on every widget."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.selection import Selection
from textual.widgets import DataTable

from casino_tui.screens.panes.table import Column, KeyedTable

COLUMNS = (Column("symbol", "Symbol", 10), Column("price", "Price", 8, "right"))


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS)


async def test_selecting_text_over_a_keyed_table_does_not_crash() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([("BTCUSDT", ("BTCUSDT", "97000.5"))])
        await pilot.pause()
        # Text selection goes through Widget._render, which a cell helper of the same name used to shadow
        # (TypeError: missing 'column' and 'markup'). A DataTable offers no plain text to select.
        assert table.get_selection(Selection(None, None)) is None


async def test_cells_are_rendered_from_markup_with_their_column_justify() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([("BTCUSDT", ("BTCUSDT", "[green]97000.5[/]"))])
        await pilot.pause()
        symbol, price = table.get_row("BTCUSDT")
        assert (symbol.plain, price.plain) == ("BTCUSDT", "97000.5")
        assert (symbol.justify, price.justify) == ("left", "right")
        assert price.spans and "green" in str(price.spans[0].style)


def displayed_keys(table: KeyedTable) -> list[str]:
    """Row keys in the order the DataTable draws them (not the order KeyedTable remembers)."""
    return [table.coordinate_to_cell_key((row, 0)).row_key.value or "" for row in range(table.row_count)]


async def test_rows_are_shown_in_the_order_sync_gives_them_even_when_a_new_row_comes_first() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([("BTCUSDT", ("BTCUSDT", "1")), ("ETHUSDT", ("ETHUSDT", "2"))])
        table.sync(
            [("XRPUSDT", ("XRPUSDT", "3")), ("BTCUSDT", ("BTCUSDT", "1")), ("ETHUSDT", ("ETHUSDT", "2"))]
        )
        await pilot.pause()
        assert displayed_keys(table) == ["XRPUSDT", "BTCUSDT", "ETHUSDT"]
        assert table.row_keys == ("XRPUSDT", "BTCUSDT", "ETHUSDT")


async def test_a_cell_is_drawn_exactly_as_datatable_draws_it_with_and_without_the_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync(
            [
                ("BTCUSDT", ("[bold]BTCUSDT[/]", "[#4EBF71]97000.5[/]")),
                ("A_VERY_LONG_SYMBOL_USDT", ("A_VERY_LONG_SYMBOL_USDT", "1.2345678901")),
            ]
        )
        table.focus()
        await pilot.pause()
        base = table.rich_style
        for row in range(2):
            for column, width in enumerate((10, 8)):
                for cursor in (False, True):
                    ours = table._render_cell(row, column, base, width + 2, cursor)
                    table._rendered.clear()  # DataTable's render, not our memo of it
                    theirs = DataTable._render_cell(table, row, column, base, width + 2, cursor)
                    assert ours == theirs, (row, column, cursor)
