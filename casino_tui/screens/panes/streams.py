"""The Streams pane: per-symbol market data health (last price, change, tick rate, age, sparkline)."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical

from casino_tui.screens import cells
from casino_tui.screens.attention import narrowed, shown_count, streams_by_attention
from casino_tui.screens.panes.table import Column, KeyedTable
from casino_tui.screens.redraw import Subtitle
from casino_tui.snapshot import StreamRow

SPARK_WIDTH = 16  # the minimum; on wide screens the sparkline grows into the spare width

COLUMNS = (
    Column("symbol", "Symbol", 10),
    Column("last", "Last", 9, "right"),
    Column("change", "Chg%", 7, "right"),
    Column("tps", "Tick/s", 6, "right", drop_rank=3),
    Column("age", "Age", 5, "right", drop_rank=2),
    Column("spark", "Trend (1m)", SPARK_WIDTH, drop_rank=1, stretch=True),
)


def stream_cells(row: StreamRow, spark_width: int = SPARK_WIDTH) -> tuple[str, ...]:
    """Markup for every column of one stream row; the sparkline fills `spark_width` cells at most."""
    return (
        f"[bold]{escape(row.symbol)}[/]",
        cells.price(row.last),
        cells.signed_pct(row.change_pct),
        f"{row.ticks_per_s:.1f}",
        cells.stream_age(row.age_s),
        cells.sparkline(row.spark, spark_width),
    )


class StreamsPane(Vertical):
    """One row per subscribed symbol; the subtitle counts symbols and quiet ones."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self._subtitle = Subtitle(self)
        self.border_title = "Streams"

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="streams-table")

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def show(self, rows: tuple[StreamRow, ...], symbol_filter: str = "") -> None:
        """Diff the table to the rows whose symbol matches `symbol_filter`, quiet streams first."""
        table = self.table
        spark_width = table.width_of("spark")
        shown = streams_by_attention(narrowed(rows, symbol_filter, lambda row: row.symbol))
        table.sync((row.symbol, stream_cells(row, spark_width)) for row in shown)
        quiet = sum(1 for row in rows if row.age_s >= 30)
        subtitle = shown_count(len(shown), len(rows), "symbols")
        self._subtitle.show(f"{subtitle} · [{cells.RED}]{quiet} quiet[/]" if quiet else subtitle)
