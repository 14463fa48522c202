"""The help screen: every key the console and its dialogs answer to, and what the short names on screen mean.

Key rows are built from the bindings themselves, so a key added to the console or a dialog shows up here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from rich.markup import escape
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from casino_tui.screens.confirm import ConfirmScreen, LiveGateScreen
from casino_tui.screens.header import SHORT_STATUS
from casino_tui.screens.quit import QuitScreen
from casino_tui.screens.reconcile import ReconcileScreen
from casino_tui.screens.sensor_detail import SensorDetailScreen
from casino_tui.screens.trades import TradesScreen


class HelpRow(NamedTuple):
    """One key (or several that do the same), its action and what it does."""

    keys: str
    action: str
    detail: str = ""


class HelpSection(NamedTuple):
    """A titled group of rows: the console's keys, one dialog's keys, or a legend."""

    title: str
    rows: tuple[HelpRow, ...]


KEY_WIDTH, ACTION_WIDTH = 10, 14  # the same in every section, so the sections line up


def key_name(key: str) -> str:
    """A key as the footer writes it: `?` for question_mark, `esc` for escape, `^c` for ctrl+c."""
    if key.startswith("ctrl+"):
        return f"^{key.removeprefix('ctrl+')}"
    return {"question_mark": "?", "escape": "esc"}.get(key, key)


def binding_rows(bindings: Iterable[BindingType]) -> list[HelpRow]:
    """One row per action, its keys joined (`q ^c ^q`); actions on the same keys share one row
    (`p`: Pause / Resume)."""
    by_action: dict[str, tuple[list[str], str, str]] = {}
    for binding in Binding.make_bindings(bindings):
        key = binding.key_display or key_name(binding.key)
        keys, description, detail = by_action.setdefault(binding.action, ([], binding.description, ""))
        if key not in keys:
            keys.append(key)
        by_action[binding.action] = (keys, description, detail or binding.tooltip)
    by_keys: dict[str, HelpRow] = {}
    for keys, description, detail in by_action.values():
        joined = " ".join(keys)
        shared = by_keys.get(joined)
        if shared is None:
            by_keys[joined] = HelpRow(joined, description, detail)
        elif description not in shared.action.split(" / "):
            by_keys[joined] = shared._replace(action=f"{shared.action} / {description}")
    return list(by_keys.values())


_STATUS_LEGEND = tuple(HelpRow(short, status.value) for status, short in SHORT_STATUS.items())

LEGEND = (
    HelpSection(
        "Header",
        (
            HelpRow("Eq", "Equity", "Balance plus unrealised PnL, USDT"),
            HelpRow("PnL", "Session PnL", "Realised plus unrealised since start"),
            HelpRow("Pos", "Positions", "Open / most allowed at once"),
            HelpRow("Lag", "Loop lag", "How late the event loop runs (yellow ≥ 20 ms, red ≥ 100 ms)"),
            HelpRow("SIM 30×", "Clock", "The simulated clock and its speed (UTC: the wall clock)"),
            HelpRow("● ‖ ◌ ■", "Status", "Running, paused, busy (starting, recovering), stopping"),
            *_STATUS_LEGEND,
        ),
    ),
    HelpSection(
        "Panes",
        (
            HelpRow("Chg%", "Change", "Since the session's first price"),
            HelpRow("Tick/s", "Trades", "Market trades per second"),
            HelpRow("Age", "Age", "Since the last trade (Streams), since opening (Brackets)"),
            HelpRow("L/S/N", "Votes", "Sensors voting long / short / neutral"),
            HelpRow("HTF", "Trend", "Higher-timeframe trend: ▲ up, ▼ down, · flat"),
            HelpRow("Decision", "Decision", "The last entry decision and how long ago"),
            HelpRow("TP SL", "Exits", "Take-profit and stop-loss prices"),
            HelpRow("uPnL", "Unrealised", "PnL of the open position at the mark price"),
            HelpRow("Prot", "Protected", "✓ both TP and SL acknowledged by the exchange"),
            HelpRow("Fail Cool", "Breaker", "Failures counted; cooldown before the next try"),
            HelpRow("● ◐ ✖", "Breaker", "Closed, half-open (trying), open (refusing calls)"),
            HelpRow("2✗", "Failures", "On the folded Breakers line: failures so far"),
            HelpRow("wt ord", "Headroom", "Request weight used per 1m; orders per 10s / 1m"),
            HelpRow("WARN CRIT", "Log level", "WARNING, CRITICAL; an indented row continues the line above"),
        ),
    ),
)

# Keys that are not bindings: Textual's own, and the Input of the live gate.
OTHER_KEYS = HelpSection(
    "Also",
    (
        HelpRow("enter", "Sensors", "In Consensus: the symbol's sensor votes"),
        HelpRow("tab", "Next pane", "Move between tables (shift+tab back)"),
        HelpRow("^p", "Commands", "Search every action (^ is ctrl)"),
        HelpRow("enter", "Confirm", "Live gate: submit the typed phrase"),
    ),
)


# The dialogs whose keys the help lists, under these titles.
DIALOGS: tuple[tuple[str, type[Screen[Any]]], ...] = (
    ("Sweep and other questions", ConfirmScreen),
    ("Quit question", QuitScreen),
    ("Reconcile", ReconcileScreen),
    ("Live gate", LiveGateScreen),
    ("Sensors", SensorDetailScreen),
    ("Trades", TradesScreen),
)


def help_sections(console_bindings: Iterable[BindingType]) -> list[HelpSection]:
    """The console's keys, each dialog's keys, and the keys that are not bindings."""
    return [
        HelpSection("Console", tuple(binding_rows(console_bindings))),
        *(HelpSection(title, tuple(binding_rows(screen.BINDINGS))) for title, screen in DIALOGS),
        OTHER_KEYS,
    ]


def section_table(section: HelpSection) -> Table:
    """A section as a borderless table whose last column wraps instead of being cut."""
    table = Table(
        title=section.title,
        title_justify="left",
        title_style="bold",
        box=None,
        expand=True,
        show_header=False,
        padding=(0, 1),
    )
    table.add_column("key", style="bold", width=KEY_WIDTH, overflow="fold")
    table.add_column("action", width=ACTION_WIDTH, overflow="fold")
    table.add_column("detail", ratio=1, overflow="fold")
    for row in section.rows:
        table.add_row(escape(row.keys), escape(row.action), escape(row.detail))
    return table


class HelpScreen(ModalScreen[None]):
    """Key sections, then the legend, in a scrolling dialog; any of Escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, sections: Sequence[HelpSection]) -> None:
        super().__init__(classes="modal")
        self.sections = (*sections, *LEGEND)

    @property
    def rows(self) -> tuple[HelpRow, ...]:
        """Every row of every section, legend included."""
        return tuple(row for section in self.sections for row in section.rows)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog") as dialog:
            dialog.border_title = "Keys"
            with VerticalScroll(id="help-scroll"):
                for section in self.sections:
                    yield Static(section_table(section), classes="help-section")
            yield Static("↑↓ scroll · esc closes · every action is also in ^p", id="help-hint")

    def action_close(self) -> None:
        self.dismiss(None)
