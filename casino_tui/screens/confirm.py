"""Confirmation modals: a yes/no question with focus on No, and the typed gate before live trading."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Ask one question; dismisses with True only on an explicit Yes. Focus starts on No."""

    AUTO_FOCUS = "#no"
    BINDINGS = [
        Binding("escape", "answer(False)", "No", id="confirm.no", tooltip="Close without doing anything"),
        Binding("n", "answer(False)", "No", show=False, id="confirm.no_key"),
        Binding("y", "answer(True)", "Yes", show=False, id="confirm.yes_key"),
        Binding("left,right", "switch", "Switch", show=False, id="confirm.switch"),
    ]

    def __init__(self, title: str, message: str, *, yes_label: str = "Yes", danger: bool = True) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.message = message
        self.yes_label = yes_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog -danger" if self.danger else "dialog") as dialog:
            dialog.border_title = self.title_text
            yield Static(self.message, id="message", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button("No (n)", id="no", variant="default")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_switch(self) -> None:
        self.focus_next(Button)


class LiveGateScreen(ModalScreen[bool]):
    """Before live trading the operator must type an exact phrase; Escape or a wrong phrase refuses."""

    AUTO_FOCUS = "#phrase"
    BINDINGS = [
        Binding("escape", "refuse", "Exit", id="live_gate.refuse", tooltip="Leave without trading"),
        Binding("ctrl+c", "refuse", "Exit", show=False, id="live_gate.ctrl_c"),
    ]

    def __init__(self, phrase: str) -> None:
        super().__init__(classes="modal")
        self.phrase = phrase

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog -danger") as dialog:
            dialog.border_title = "Live trading"
            yield Static(
                "This console will place real orders with real money on the exchange.\n"
                f"Type {self.phrase} and press Enter to continue; Escape exits.",
                id="message",
                markup=False,
            )
            field = Input(placeholder=f"type {self.phrase}", id="phrase")
            field.cursor_blink = False  # a blinking cursor would make screenshots differ run to run
            yield field
            yield Label("", id="gate-error")

    @on(Input.Submitted, "#phrase")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value == self.phrase)

    def action_refuse(self) -> None:
        self.dismiss(False)
