"""The quit question asked when positions are open: keep them (protected) or sweep, or stay.

While a sweep runs there is nothing to choose: the sweep finishes before the process exits, so the question
only offers to quit once it is done, or to stay.
"""

from __future__ import annotations

import enum

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class QuitChoice(enum.Enum):
    KEEP = "keep"  # leave positions open; TP/SL stay on the exchange
    SWEEP = "sweep"  # close everything, then quit
    CANCEL = "cancel"  # stay in the console


class QuitScreen(ModalScreen[QuitChoice]):
    """Offers the three ways out; focus starts on Cancel so a stray Enter changes nothing."""

    AUTO_FOCUS = "#cancel"
    BINDINGS = [
        Binding("escape", "choose('cancel')", "Cancel", id="quit.cancel", tooltip="Stay in the console"),
        Binding("k", "choose('keep')", "Keep", show=False, id="quit.keep"),
        Binding("w", "choose('sweep')", "Sweep", show=False, id="quit.sweep"),
        Binding("up", "app.focus_previous", "Previous", show=False, id="quit.up"),
        Binding("down", "app.focus_next", "Next", show=False, id="quit.down"),
    ]

    def __init__(self, open_positions: int, *, is_sweeping: bool = False) -> None:
        super().__init__(classes="modal")
        self.open_positions = open_positions
        self.is_sweeping = is_sweeping

    def compose(self) -> ComposeResult:
        plural = "position is" if self.open_positions == 1 else "positions are"
        with Vertical(id="dialog", classes="dialog") as dialog:
            dialog.border_title = "Quit"
            if self.is_sweeping:
                yield Static(
                    "A sweep is running. It finishes before the program exits; whatever it cannot close gets "
                    "its stop-loss back.",
                    id="message",
                )
                with Vertical(classes="choices"):
                    yield Button("Quit when the sweep is done  k", id="keep", variant="primary")
                    yield Button("Cancel  esc", id="cancel", variant="default")
                return
            yield Static(f"{self.open_positions} {plural} open. What should happen to them?", id="message")
            with Vertical(classes="choices"):
                yield Button("Keep positions (TP/SL stay on the exchange)  k", id="keep", variant="primary")
                yield Button("Sweep all then quit  w", id="sweep", variant="error")
                yield Button("Cancel  esc", id="cancel", variant="default")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(QuitChoice(event.button.id))

    def action_choose(self, choice: str) -> None:
        self.dismiss(QuitChoice(choice))
