"""Every terminal size works: at 80x24 the header keeps every field whole, below it the console goes compact
(header, Brackets, footer with q), and a resize either way switches the layout."""

from __future__ import annotations

import pytest

from casino_tui.app import CasinoApp
from casino_tui.lifecycle import RuntimeStatus
from casino_tui.model import TradingMode
from casino_tui.screens.console import ConsoleScreen
from casino_tui.screens.help import HelpScreen
from tests.ui.fake_runtime import FakeRuntime
from tests.ui.pilot_support import screen_lines, start, wait_until

HIDDEN_WHEN_COMPACT = ("#top", "#breakers", "#logs")


def header_line(app: CasinoApp) -> str:
    return screen_lines(app)[0]


def footer_line(app: CasinoApp) -> str:
    return screen_lines(app)[-1]


def is_full_layout(screen: ConsoleScreen) -> bool:
    return not screen.is_compact and all(screen.query_one(name).display for name in HIDDEN_WHEN_COMPACT)


async def test_at_80x24_the_header_shows_every_field_whole(make_app, fake: FakeRuntime) -> None:
    """A five-digit equity, RUNNING and the sim's clock name: the case where Lag used to lose its value."""
    fake.clock_label = "SIM 30×"
    fake.loop_lag_ms = 12.3
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        line = header_line(app)
        for field in (
            "PAPER",
            "● RUNNING",
            "Eq 10,038.73",
            "PnL +38.73",
            "Pos 3/5",
            "Lag 12.3ms",
            "12:34:56",
        ):
            assert field in line, f"{field!r} missing from {line!r}"
        assert line.rstrip().endswith("SIM 30×"), line


async def test_at_80x24_a_crowded_header_abbreviates_rather_than_cuts() -> None:
    """TESTNET, RECOVERING, a six-digit equity, a five-digit PnL and a slow loop: abbreviated (the status,
    equity in whole units), every field still there whole."""
    fake = FakeRuntime(mode=TradingMode.TESTNET)
    fake.status = RuntimeStatus.RECOVERING
    fake.realized_pnl = 95_000.0
    fake.loop_lag_ms = 456.0
    fake.clock_label = "SIM 30×"
    header = fake.snapshot().header
    app = CasinoApp(fake, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        line = header_line(app)
        fields = (
            "TESTNET",
            "◌ RECOV",
            f"Eq {header.equity:,.0f}",
            f"PnL {header.pnl:+,.2f}",
            "Pos 3/5",
            "Lag 456ms",
            "12:34:56",
        )
        for field in fields:
            assert field in line, f"{field!r} missing from {line!r}"


async def test_below_80x24_the_console_shows_header_brackets_and_quit(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await start(app, pilot)
        screen = app.console_screen
        assert screen.is_compact
        for name in HIDDEN_WHEN_COMPACT:
            assert not screen.query_one(name).display, f"{name} still shown at 60x20"
        assert screen.brackets.region.height >= 6, screen.brackets.region
        assert screen.brackets.table.row_count == 3
        header = header_line(app)
        assert "Pos 3/5" in header and "Lag 1.4ms" in header, header
        assert "q Quit" in footer_line(app), footer_line(app)


@pytest.mark.parametrize("size", [(79, 24), (80, 23), (40, 12)])
async def test_one_column_or_row_short_of_80x24_is_compact_too(make_app, size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await start(app, pilot)
        assert app.console_screen.is_compact
        assert "q Quit" in footer_line(app), footer_line(app)


async def test_resizing_switches_to_compact_and_back_to_the_full_layout(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        screen = app.console_screen
        assert is_full_layout(screen)

        await pilot.resize_terminal(60, 20)
        await wait_until(pilot, lambda: screen.is_compact, "the compact layout at 60x20")
        assert not screen.logs.display

        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: is_full_layout(screen), "the full layout back at 80x24")
        assert "Logs" in "\n".join(screen_lines(app))
        assert "Streams" in "\n".join(screen_lines(app))


async def test_a_resize_while_a_dialog_is_open_reaches_the_console_behind_it(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "help open")
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "help closed")
        await wait_until(pilot, lambda: app.console_screen.is_compact, "the console compact after the dialog")


async def test_the_stale_reason_wraps_instead_of_being_cut_at_80_columns(make_app, fake: FakeRuntime) -> None:
    reason = "market-data breaker OPEN after 5 failures: ConnectError to fstream, reconnecting every 8s"
    fake.set_stale(reason)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        shown = " ".join(line.strip() for line in screen_lines(app)[1:3])
        assert f"STALE — {reason}" in shown, shown


async def test_at_80x24_long_log_lines_wrap_under_the_level_column(make_app, fake: FakeRuntime) -> None:
    message = "sweep failed: close of SOLUSDT rejected with -2022 ReduceOnly Order is rejected; retrying"
    fake.add_log("ERROR", "sweeper", message, symbol="SOLUSDT")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        lines = screen_lines(app)
        first = next(i for i, line in enumerate(lines) if "ERROR" in line and "sweeper" in line)
        # the pane's border takes one column, its padding another; a continuation is indented 9 more
        continuation = lines[first + 1]
        assert continuation.startswith("│" + " " * 10) and continuation[11] != " ", continuation
        text = " ".join(part.strip("│ ") for part in lines[first : first + 3])
        assert "retrying" in text, text


async def test_at_80x24_a_decision_with_a_seconds_age_fits_its_column(make_app) -> None:
    """`SHORT 1.2s` is ten characters; the column used to hold nine."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        table = app.console_screen.consensus.table
        assert "decision" in table.shown_columns
        assert table.width_of("decision") >= len("SHORT 1.2s")
        app.console_screen.open_filter()
        await pilot.press(*"ETH")  # ETHUSDT's SHORT, 192 s old, in view whatever the attention order
        await pilot.pause()
        assert "SHORT 3m" in "\n".join(screen_lines(app))


async def test_at_50_columns_the_header_keeps_positions_and_lag_behind_the_status_mark(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(50, 15)) as pilot:
        await start(app, pilot)
        line = header_line(app)
        assert "Pos 3/5" in line and "Lag 1.4ms" in line, line
        assert "●" in line and "RUNNING" not in line, line
