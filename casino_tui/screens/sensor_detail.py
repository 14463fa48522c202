"""The sensor detail modal: every sensor's latest vote on one symbol, behind a Consensus row."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from casino_tui.screens import cells
from casino_tui.snapshot import SensorVoteRow

VOTE_MARKS = {1: ("▲ long", cells.GREEN), -1: ("▼ short", cells.RED), 0: ("· neutral", cells.DIM)}


def weighted_score(rows: tuple[SensorVoteRow, ...]) -> float:
    """Σ w·vote·strength / Σ w, the consensus these votes make (0 without weight)."""
    total_weight = sum(row.weight for row in rows)
    if total_weight <= 0:
        return 0.0
    return sum(row.weight * row.vote * row.strength for row in rows) / total_weight


class SensorDetailScreen(ModalScreen[None]):
    """Lists (sensor, timeframe, vote, strength, weight) for one symbol, strongest contribution first."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="sensor_detail.close")]

    def __init__(self, symbol: str, rows: tuple[SensorVoteRow, ...]) -> None:
        super().__init__(classes="modal")
        self.symbol = symbol
        self.rows = rows

    def compose(self) -> ComposeResult:
        ordered = sorted(self.rows, key=lambda r: -abs(r.weight * r.vote * r.strength))
        with Vertical(id="sensor-dialog", classes="dialog") as dialog:
            dialog.border_title = f"Sensors · {self.symbol}"
            longs = sum(1 for row in self.rows if row.vote > 0)
            shorts = sum(1 for row in self.rows if row.vote < 0)
            yield Static(
                f"{len(self.rows)} sensors · {cells.votes(longs, shorts, len(self.rows) - longs - shorts)} · "
                f"weighted {cells.score_bar(weighted_score(self.rows))}",
                id="sensor-summary",
            )
            table: DataTable[Text] = DataTable(id="sensor-table", cursor_type="row")
            table.add_column("Sensor", width=22, key="sensor")
            table.add_column("TF", width=4, key="tf")
            table.add_column("Vote", width=9, key="vote")
            table.add_column(Text("Strength", justify="right"), width=8, key="strength")
            table.add_column(Text("Weight", justify="right"), width=6, key="weight")
            for index, row in enumerate(ordered):
                label, colour = VOTE_MARKS.get(row.vote, ("?", cells.YELLOW))
                table.add_row(
                    Text(row.sensor),
                    Text(row.timeframe),
                    Text(label, style=colour),
                    Text(f"{row.strength:.2f}", justify="right"),
                    Text(f"{row.weight:.2f}", justify="right"),
                    key=f"{index}",
                )
            if not self.rows:
                yield Static("No sensor has voted on this symbol yet.")
            yield table
            yield Static(f"[{cells.DIM}]esc closes[/]", id="sensor-hint")

    def action_close(self) -> None:
        self.dismiss(None)
