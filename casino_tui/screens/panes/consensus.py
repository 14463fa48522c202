"""The Consensus pane: each symbol's weighted sensor score, votes, higher-timeframe trend and decision."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical

from casino_tui.screens import cells
from casino_tui.screens.attention import consensus_by_attention, narrowed, shown_count
from casino_tui.screens.panes.table import Column, KeyedTable
from casino_tui.screens.redraw import Subtitle
from casino_tui.snapshot import ConsensusRow

COLUMNS = (
    Column("symbol", "Symbol", 10),
    Column("score", "Score", 16),
    Column("votes", "L/S/N", 8, "right", drop_rank=3),
    Column("htf", "HTF", 3, "center", drop_rank=2),
    Column("decision", "Decision", 10, drop_rank=1),  # SHORT 1.2s
    Column("shard", "Shard", 11, drop_rank=4),
)


def decision(row: ConsensusRow) -> str:
    """The last decision and how long ago it was taken, coloured by side."""
    if not row.decision:
        return cells.NOTHING
    colour = cells.GREEN if row.decision.upper() == "LONG" else cells.RED
    return f"[{colour}]{escape(row.decision)}[/] {cells.age(row.decision_age_s)}"


def consensus_cells(row: ConsensusRow) -> tuple[str, ...]:
    """Markup for every column of one consensus row; a degraded shard marks the symbol too."""
    symbol = f"[bold]{escape(row.symbol)}[/]"
    shard = f"#{row.shard}"
    if row.is_degraded:
        symbol = f"[bold {cells.YELLOW}]{escape(row.symbol)}[/]"
        shard = f"#{row.shard} [bold {cells.RED}]DEGRADED[/]"
    return (
        symbol,
        cells.score_bar(row.score),
        cells.votes(row.longs, row.shorts, row.neutrals),
        cells.trend_arrow(row.htf_trend),
        decision(row),
        shard,
    )


class ConsensusPane(Vertical):
    """One row per symbol; Enter on a row opens that symbol's sensor votes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self._subtitle = Subtitle(self)
        self.border_title = "Consensus"

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="consensus-table")

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def show(self, rows: tuple[ConsensusRow, ...], symbol_filter: str = "") -> None:
        """Diff the table to the rows whose symbol matches `symbol_filter`, degraded and strongest first;
        the subtitle names degraded shards."""
        shown = consensus_by_attention(narrowed(rows, symbol_filter, lambda row: row.symbol))
        self.table.sync((row.symbol, consensus_cells(row)) for row in shown)
        degraded = sorted({row.shard for row in rows if row.is_degraded})
        counted = f"{shown_count(len(shown), len(rows), 'symbols')} · " if len(shown) < len(rows) else ""
        if degraded:
            names = ", ".join(f"#{shard}" for shard in degraded)
            self._subtitle.show(f"{counted}[bold {cells.RED}]shard {names} DEGRADED[/]")
        else:
            self._subtitle.show(f"{counted}enter: sensors")
