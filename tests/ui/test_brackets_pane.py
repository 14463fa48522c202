"""The Brackets pane shows what the engine says about a bracket: its typed state, its close reason, its risk."""

from __future__ import annotations

import msgspec
from rich.text import Text

from casino_tui.model import BracketState, CloseReason
from casino_tui.screens import cells
from casino_tui.screens.panes.brackets import COLUMNS, bracket_cells, open_by_urgency
from casino_tui.snapshot import BracketRow
from tests.ui.pilot_support import start

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


def row(bracket_id: str, state: BracketState, age_s: float, *, at_risk: bool = False) -> BracketRow:
    return msgspec.structs.replace(
        ROW, bracket_id=bracket_id, state=state, age_s=age_s, is_at_risk=at_risk, is_protected=False
    )


def test_closed_brackets_are_not_listed_among_the_open_ones() -> None:
    closed = msgspec.structs.replace(
        ROW, bracket_id="B2", state=BracketState.CLOSED, close_reason=CloseReason.SWEEP
    )
    assert [r.bracket_id for r in open_by_urgency((closed, ROW))] == ["B000001"]


def test_open_brackets_are_ordered_at_risk_unprotected_closing_then_oldest_first() -> None:
    rows = (
        row("young", BracketState.PROTECTED, 10.0),
        row("old", BracketState.PROTECTED, 900.0),
        row("closing", BracketState.CLOSING, 5.0),
        row("unprotected", BracketState.OPEN_UNPROTECTED, 1.0),
        row("naked", BracketState.OPEN_UNPROTECTED, 0.5, at_risk=True),
        row("entry", BracketState.PENDING_ENTRY, 2.0),
    )
    ordered = [r.bracket_id for r in open_by_urgency(rows)]
    assert ordered == ["naked", "unprotected", "closing", "old", "young", "entry"]


async def test_after_a_sweep_at_80x24_no_closed_row_is_shown_and_the_subtitle_says_0_open(
    make_app, fake
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        await fake.sweep()
        assert any(
            b.state is BracketState.CLOSED for b in fake.brackets.values()
        )  # the snapshot still has them
        app.refresh_from_snapshot()
        await pilot.pause()
        pane = app.console_screen.brackets
        assert pane.table.row_count == 0
        assert Text.from_markup(str(pane.border_subtitle)).plain.startswith("0 open")
