"""The Brackets pane: one row per open bracket (entry + TP + SL), the most urgent first; a position without
its stop shows in red at the top."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical

from casino_tui.model import BracketState
from casino_tui.screens import cells
from casino_tui.screens.attention import narrowed
from casino_tui.screens.panes.table import Column, KeyedTable
from casino_tui.screens.redraw import Subtitle
from casino_tui.snapshot import BracketRow

COLUMNS = (
    Column("id", "ID", 8, drop_rank=7),
    Column("symbol", "Symbol", 9),
    Column("side", "Side", 5),
    Column("qty", "Qty", 8, "right", drop_rank=4),
    Column("entry", "Entry", 9, "right", drop_rank=3),
    Column("mark", "Mark", 9, "right", drop_rank=1),
    Column("tp", "TP", 9, "right", drop_rank=5),
    Column("sl", "SL", 9, "right", drop_rank=1),
    Column("upnl", "uPnL", 9, "right"),
    Column("age", "Age", 5, "right", drop_rank=6),
    Column("state", "State", 16),
    Column("protected", "Prot", 4, "center"),
)

STATE_COLOURS = {
    BracketState.PROTECTED: cells.GREEN,
    BracketState.CLOSING: cells.YELLOW,
    BracketState.PENDING_ENTRY: cells.YELLOW,
}


UNPROTECTED_STATES = frozenset({BracketState.OPEN_UNPROTECTED, BracketState.PROTECT_FAILED})


def urgency(row: BracketRow) -> tuple[int, float, str]:
    """Sort key: at risk, then unprotected, then closing, then the rest; oldest first within each."""
    if row.is_at_risk:
        rank = 0
    elif row.state in UNPROTECTED_STATES:
        rank = 1
    elif row.state is BracketState.CLOSING:
        rank = 2
    else:
        rank = 3
    return (rank, -row.age_s, row.bracket_id)


def open_by_urgency(rows: tuple[BracketRow, ...]) -> list[BracketRow]:
    """The active brackets, most urgent first; closed ones belong to trade history, not to this pane."""
    return sorted((row for row in rows if row.state.is_active), key=urgency)


def state_label(row: BracketRow) -> str:
    """The state as the operator reads it: `CLOSED(TP)` for a closed bracket with its reason."""
    if row.close_reason is None:
        return row.state.value
    return f"{row.state.value}({row.close_reason.value})"


def bracket_cells(row: BracketRow) -> tuple[str, ...]:
    """Markup for every column of one bracket; an at-risk row is bold red from end to end."""
    plain = (
        escape(row.bracket_id),
        escape(row.symbol),
        escape(row.side),
        cells.qty(row.qty),
        cells.price(row.entry),
        cells.price(row.mark),
        cells.price(row.tp),
        cells.price(row.sl),
        f"{row.upnl:+,.2f}",
        cells.age(row.age_s),
        escape(state_label(row)),
        "✓" if row.is_protected else "✗",
    )
    if row.is_at_risk:
        return tuple(f"[bold {cells.RED}]{text}[/]" for text in plain)
    state = plain[10]
    colour = STATE_COLOURS.get(row.state)
    if colour is not None:
        state = f"[{colour}]{state}[/]"
    return (
        f"[{cells.DIM}]{plain[0]}[/]",
        f"[bold]{plain[1]}[/]",
        cells.side(row.side),
        *plain[3:8],
        cells.signed_money(row.upnl),
        plain[9],
        state,
        f"[{cells.GREEN}]✓[/]" if row.is_protected else f"[{cells.DIM}]✗[/]",
    )


class BracketsPane(Vertical):
    """Open brackets; rows are keyed by bracket id so a closed bracket's row is removed, not rebuilt."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self._subtitle = Subtitle(self)
        self.border_title = "Brackets"

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="brackets-table")

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def show(self, rows: tuple[BracketRow, ...], symbol_filter: str = "") -> None:
        """Diff the table to the open brackets in `rows` whose symbol matches `symbol_filter` (an unprotected
        position shows whatever the filter); the subtitle counts every open bracket and the unprotected
        positions among them."""
        open_rows = open_by_urgency(rows)
        shown = narrowed(open_rows, symbol_filter, lambda row: row.symbol, keep=lambda row: row.is_at_risk)
        self.table.sync((row.bracket_id, bracket_cells(row)) for row in shown)
        at_risk = sum(1 for row in open_rows if row.is_at_risk)
        upnl = sum(row.upnl for row in open_rows)
        subtitle = f"{len(open_rows)} open · uPnL {cells.signed_money(upnl)}"
        if len(shown) < len(open_rows):
            subtitle = f"{len(shown)} shown · {subtitle}"
        if at_risk:
            subtitle += f" · [bold {cells.RED}]{at_risk} UNPROTECTED[/]"
        self._subtitle.show(subtitle)
