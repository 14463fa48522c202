"""The Trades screen: closed brackets newest first, their totals and the equity curve; at the end of a replay
the same screen shows the replay report's summary and its equity."""

from __future__ import annotations

import math
import time

import msgspec
from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from casino_tui.control import RuntimeControl
from casino_tui.model import CloseReason
from casino_tui.screens import cells
from casino_tui.screens.equity import EquityPlot
from casino_tui.screens.panes.table import Column, KeyedTable
from casino_tui.snapshot import ClosedTrade, TradeHistory, TradeTotals

POLL_S = 1.0  # how often the screen asks whether a trade has closed (a version compare when none has)
NO_TRADES = "No closed trades yet: a bracket is listed here once its position is closed."
NO_REPLAY_TRADES = "The replay closed no trade."

# Widths fit 80 columns with the close time and net PnL dropped first; both show from 100 columns.
COLUMNS = (
    Column("closed", "Closed", 11, drop_rank=2),
    Column("symbol", "Symbol", 8),
    Column("side", "Side", 5),
    Column("entry", "Entry", 9, "right"),
    Column("exit", "Exit", 9, "right"),
    Column("reason", "Reason", 10),
    Column("pnl", "PnL", 9, "right"),
    Column("fees", "Fees", 6, "right"),
    Column("net", "Net", 9, "right", drop_rank=1),
    Column("held", "Held", 5, "right"),
)

REASON_LABELS = {CloseReason.PROTECT_FAILED: "PROT FAIL"}
REASON_COLOURS = {CloseReason.TP: cells.GREEN, CloseReason.SL: cells.RED, CloseReason.SWEEP: cells.YELLOW}


class ReplayEnding(msgspec.Struct, frozen=True):
    """What the end of a replay shows above its trades: the report's summary lines and its equity series."""

    lines: tuple[str, ...]
    equity: tuple[tuple[int, float], ...]  # (ms, equity) as the report sampled it, oldest first
    start_balance: float = 0.0


def trade_cells(trade: ClosedTrade) -> tuple[str, ...]:
    """Markup for one closed trade, every column; money coloured by its sign."""
    reason = REASON_LABELS.get(trade.reason, trade.reason.value) or "—"
    colour = REASON_COLOURS.get(trade.reason)
    return (
        time.strftime("%m-%d %H:%M", time.gmtime(trade.closed_ms / 1000)),
        f"[bold]{escape(trade.symbol)}[/]",
        f"[{cells.GREEN if trade.side == 'LONG' else cells.RED}]{trade.side}[/]",
        cells.price(trade.entry),
        cells.price(trade.exit),
        f"[{colour}]{escape(reason)}[/]" if colour else escape(reason),
        cells.signed_money(trade.realized_pnl),
        f"{trade.fees:.2f}",
        cells.signed_money(trade.net_pnl),
        cells.age(trade.duration_s),
    )


def profit_factor_text(value: float | None) -> str:
    """∞ when nothing was lost, — when nothing was won or lost either."""
    if value is None:
        return "—"
    return "∞" if math.isinf(value) else f"{value:.2f}"


def totals_markup(totals: TradeTotals) -> str:
    """Two lines: the count, win rate and net result; then where the net came from and how deep it fell."""
    rate = "—" if totals.win_rate is None else f"{totals.win_rate:.1f}%"
    return (
        f"[bold]{cells.count(totals.trades, 'trade')}[/] · win rate {rate} "
        f"({totals.wins} won, {totals.losses} lost) · net PnL {cells.signed_money(totals.net_pnl)}\n"
        f"PnL {cells.signed_money(totals.realized_pnl)} · fees {cells.money(totals.fees)} · "
        f"profit factor {profit_factor_text(totals.profit_factor)} · "
        f"max drawdown {cells.money(totals.max_drawdown)}"
    )


class TradesScreen(ModalScreen[None]):
    """Reads `control.trade_history()` on open and each second after, redrawing only when its version moved."""

    BINDINGS = [Binding("escape,q,t", "close", "Close", id="trades.close", tooltip="Back to the console")]

    DEFAULT_CSS = """
    TradesScreen {
        background: $background;
    }
    #trades-dialog {
        border: round $primary;
        border-title-style: bold;
        background: $surface;
    }
    #trades-summary {
        height: auto;
        padding: 0 1;
    }
    #trades-plot {
        height: 1fr;
        min-height: 6;
    }
    #trades-table {
        height: 1fr;
        min-height: 4;
    }
    #trades-empty {
        height: 1fr;
        padding: 1 1;
        color: $text-muted;
    }
    #trades-hint {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, control: RuntimeControl, *, ending: ReplayEnding | None = None) -> None:
        super().__init__()
        self.control = control
        self.ending = ending
        self.version: int | None = None  # the TradeHistory version shown

    def compose(self) -> ComposeResult:
        with Vertical(id="trades-dialog") as dialog:
            dialog.border_title = "Replay finished" if self.ending is not None else "Trades"
            yield Static("", id="trades-summary")
            yield EquityPlot(id="trades-plot")
            yield Static(NO_TRADES if self.ending is None else NO_REPLAY_TRADES, id="trades-empty")
            yield KeyedTable(COLUMNS, id="trades-table")
            yield Static("", id="trades-hint")

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def on_mount(self) -> None:
        self.show(self.control.trade_history())
        self.set_interval(POLL_S, self.poll, name="trades")

    def poll(self) -> None:
        history = self.control.trade_history()
        if history.version != self.version:
            self.show(history)

    def show(self, history: TradeHistory) -> None:
        """Bring every widget to `history` (and the replay's ending, if any) in one batch."""
        self.version = history.version
        ending = self.ending
        if ending is not None:
            summary = "\n".join(escape(line) for line in ending.lines)
            equity, baseline = ending.equity, ending.start_balance
        else:
            summary = totals_markup(history.totals)
            equity, baseline = history.equity, history.start_balance
        has_trades = history.totals.trades > 0
        with self.app.batch_update():
            summary_widget = self.query_one("#trades-summary", Static)
            summary_widget.update(summary)
            summary_widget.display = has_trades or ending is not None
            plot = self.query_one(EquityPlot)
            plot.display = len(equity) >= 2
            plot.show(equity, baseline or None)
            self.query_one("#trades-empty", Static).display = not has_trades
            self.table.display = has_trades
            self.table.sync((trade.bracket_id, trade_cells(trade)) for trade in history.recent)
            self.query_one("#trades-hint", Static).update(self._hint(history))

    @staticmethod
    def _hint(history: TradeHistory) -> str:
        listed = len(history.recent)
        more = history.totals.trades - listed
        shown = f"newest {listed} of {history.totals.trades} listed · " if more > 0 else ""
        return f"{shown}times UTC on the runtime clock · esc closes"

    def action_close(self) -> None:
        self.dismiss(None)
