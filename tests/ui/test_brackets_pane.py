"""The Brackets pane shows what the engine says about a bracket: its typed state, its close reason, its risk."""

from __future__ import annotations

import msgspec

from casino_tui.model import BracketState, CloseReason
from casino_tui.screens import cells
from casino_tui.screens.panes.brackets import COLUMNS, bracket_cells
from casino_tui.snapshot import BracketRow

STATE_COLUMN = [column.key for column in COLUMNS].index("state")
RISK = f"[bold {cells.RED}]"

ROW = BracketRow(
    bracket_id="B000001",
    symbol="BTCUSDT",
    side="LONG",
    qty=0.01,
    entry=100.0,
    mark=101.0,
    tp=102.0,
    sl=98.0,
    upnl=0.01,
    age_s=30.0,
    state=BracketState.PROTECTED,
    is_protected=True,
    is_at_risk=False,
)


def test_a_closed_row_reads_closed_with_its_reason() -> None:
    row = msgspec.structs.replace(
        ROW, state=BracketState.CLOSED, close_reason=CloseReason.TP, is_protected=False
    )
    assert "CLOSED(TP)" in bracket_cells(row)[STATE_COLUMN]


def test_a_row_the_engine_calls_at_risk_is_red_from_end_to_end() -> None:
    row = msgspec.structs.replace(
        ROW, state=BracketState.OPEN_UNPROTECTED, is_protected=False, is_at_risk=True
    )
    assert all(cell.startswith(RISK) for cell in bracket_cells(row))


def test_an_unprotected_row_whose_stop_is_live_is_not_painted_at_risk() -> None:
    # The stop is acknowledged, the take-profit not yet: not protected, but not at risk either.
    row = msgspec.structs.replace(ROW, state=BracketState.OPEN_UNPROTECTED, is_protected=False)
    assert not any(cell.startswith(RISK) for cell in bracket_cells(row))
    assert bracket_cells(row)[STATE_COLUMN] == "OPEN_UNPROTECTED"
