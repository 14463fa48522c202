"""The help screen: every key the console answers to, with what it does."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from casino_tui.screens.panes.table import Column, KeyedTable

COLUMNS = (
    Column("key", "Key", 7),
    Column("action", "Action", 14),
    Column("detail", "What it does", 30, stretch=True),
)


class HelpScreen(ModalScreen[None]):
    """A table of (key, action, what it does); any of Escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, keys: Sequence[tuple[str, str, str]]) -> None:
        super().__init__(classes="modal")
        self.keys = tuple(keys)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog") as dialog:
            dialog.border_title = "Keys"
            yield KeyedTable(COLUMNS, id="help-table")
            yield Static("esc closes · every action is also in the command palette (ctrl+p)", id="help-hint")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).sync(
            (f"{key}:{action}", (f"[bold]{escape(key)}[/]", escape(action), escape(detail)))
            for key, action, detail in self.keys
        )

    def action_close(self) -> None:
        self.dismiss(None)
