"""Every console key, driven through Textual's pilot against the fake runtime."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.widgets import Button, DataTable, Input, Static

from casino_tui.app import CasinoApp
from casino_tui.lifecycle import RuntimeStatus
from casino_tui.screens.confirm import ConfirmScreen, LiveGateScreen
from casino_tui.screens.console import ConsoleScreen
from casino_tui.screens.help import HelpScreen
from casino_tui.screens.quit import QuitScreen
from casino_tui.screens.reconcile import ReconcileScreen
from casino_tui.screens.sensor_detail import SensorDetailScreen
from tests.ui.fake_runtime import FakeRuntime
from tests.ui.pilot_support import header_status, notifications, plain, start, wait_until

SIZE = (120, 40)


async def test_p_pauses_then_resumes_and_the_header_follows(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert header_status(app) == "● RUNNING"

        await pilot.press("p")
        assert fake.is_paused
        assert header_status(app) == "‖ PAUSED"
        assert any("Paused" in message for message in notifications(app))

        await pilot.press("p")
        assert not fake.is_paused
        assert header_status(app) == "● RUNNING"


async def test_s_opens_sweep_confirmation_stating_counts_with_focus_on_no(
    make_app, fake: FakeRuntime
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "sweep confirmation")
        await wait_until(pilot, lambda: app.focused is not None, "sweep confirmation focused")
        assert app.focused is not None and app.focused.id == "no"
        message = plain(app.screen.query_one("#message", Static))
        assert message == (
            f"Cancel {fake.open_orders} open orders and close {fake.open_position_count} positions "
            "with reduce-only market orders, then pause new entries."
        )


async def test_sweep_no_changes_nothing(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "sweep confirmation")
        await pilot.press("enter")  # focus is on No
        await wait_until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "back to the console")
        assert fake.sweep_calls == 0
        assert fake.open_position_count == 3


async def test_sweep_yes_sweeps_and_reports_the_result(make_app, fake: FakeRuntime) -> None:
    orders, positions = fake.open_orders, fake.open_position_count + len(fake.unknown_positions)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "sweep confirmation")
        await pilot.click("#yes")
        await wait_until(pilot, lambda: fake.sweep_calls == 1, "sweep called")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake.open_position_count == 0 and fake.is_paused
        assert any(
            message.startswith(f"Sweep done: cancelled {orders} orders, closed {positions} positions")
            for message in notifications(app)
        )
        assert app.console_screen.brackets.table.row_count == 0
        assert header_status(app) == "‖ PAUSED"


async def test_console_keys_do_not_fire_through_a_modal(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "sweep confirmation")
        await pilot.press("s", "q", "p", "r", "l", "question_mark")
        assert isinstance(app.screen, ConfirmScreen)
        assert len(app.screen_stack) == 2
        assert fake.sweep_calls == 0 and fake.stop_requests == [] and not fake.is_paused
        assert fake.reconcile_calls == [] and app.console_screen.logs.level_filter == "ALL"


async def test_r_shows_differences_and_a_applies_them(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ReconcileScreen), "reconcile screen")
        screen = app.screen
        assert isinstance(screen, ReconcileScreen)
        await wait_until(pilot, lambda: screen.report is not None and not screen.is_busy, "first report")
        table = screen.query_one("#reconcile-table", DataTable)
        kinds = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert kinds == {"NAKED_POSITION", "UNKNOWN_POSITION", "ORPHAN_ORDER"}
        assert fake.reconcile_calls == [False]

        await pilot.press("a")
        await wait_until(
            pilot, lambda: fake.reconcile_calls == [False, True, False] and not screen.is_busy, "apply"
        )
        assert screen.report is not None and screen.report.is_clean
        assert "No differences" in plain(screen.query_one("#reconcile-status", Static))
        # the console behind was refreshed: the naked XRP position is protected now
        assert app.console_screen.brackets.table.markup("b-0003")[-1].endswith("✓[/]")

        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "back to the console")


async def test_enter_on_a_consensus_row_lists_its_sensor_votes(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        table = app.console_screen.consensus.table
        table.focus()
        second = table.row_keys[1]  # rows come by attention (attention.py), not in the runtime's order
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SensorDetailScreen), "sensor detail")
        screen = app.screen
        assert isinstance(screen, SensorDetailScreen)
        assert screen.symbol == second
        detail = screen.query_one("#sensor-table", DataTable)
        assert detail.row_count == len(fake.sensor_detail(second))
        sensors = {str(detail.get_row_at(i)[0]) for i in range(detail.row_count)}
        assert sensors == {row.sensor for row in fake.sensor_detail(second)}
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "back to the console")


async def test_question_mark_lists_every_console_key(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "help screen")
        keys = {key for row in app.screen.rows for key in row.keys.split()}
        assert {"p", "s", "r", "l", "f", "?", "q", "^c", "enter", "tab", "^p"} <= keys
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "help closed")


async def test_l_cycles_the_log_level_filter(make_app, fake: FakeRuntime) -> None:
    fake.add_log("ERROR", "croupier", "order rejected: -2019 margin is insufficient", symbol="SOLUSDT")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        logs = app.console_screen.logs
        counts = {}
        for expected in ("INFO", "WARNING", "ERROR", "ALL"):
            await pilot.press("l")
            assert logs.level_filter == expected
            counts[expected] = logs.log_widget.line_count
        levels = [line.level for line in fake.logs]
        assert counts["ALL"] == len(levels)
        assert counts["INFO"] == len(levels) - levels.count("DEBUG")
        assert counts["WARNING"] == levels.count("WARNING") + levels.count("ERROR")
        assert counts["ERROR"] == 1


async def test_q_with_positions_asks_and_keep_stops_without_sweeping(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "quit question")
        await wait_until(pilot, lambda: app.focused is not None, "quit question focused")
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.click("#keep")
    assert fake.stop_requests == [False]
    assert app.return_code == 0


async def test_q_sweep_choice_stops_with_a_sweep(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "quit question")
        await pilot.press("w")
    assert fake.stop_requests == [True]


async def test_q_cancel_stays_in_the_console(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "quit question")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "back to the console")
        assert fake.stop_requests == [] and app.return_code is None


async def test_q_without_positions_exits_directly() -> None:
    fake = FakeRuntime(with_positions=False)
    app = CasinoApp(fake, live=False)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("q")
    assert fake.stop_requests == [None]
    assert app.return_code == 0


async def test_ctrl_c_takes_the_quit_path(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "quit question")
        assert fake.stop_requests == []


async def test_textual_quit_action_takes_the_quit_path_too(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await app.run_action("quit")  # what the palette's built-in "Quit the application" runs
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "quit question")
        await wait_until(pilot, lambda: app.focused is not None, "quit question focused")
        assert fake.stop_requests == [] and app.return_code is None


async def test_live_gate_refuses_a_wrong_phrase_with_exit_code_2(make_app, fake: FakeRuntime) -> None:
    app = make_app(confirm_live="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveGateScreen), "live gate")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), "phrase field focused")
        await pilot.press("s")  # typed into the field, never a sweep
        await pilot.press("enter")
    assert app.return_code == 2
    assert fake.sweep_calls == 0
    assert fake.live_confirmations == 0


async def test_live_gate_escape_exits_with_code_2(make_app, fake: FakeRuntime) -> None:
    app = make_app(confirm_live="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveGateScreen), "live gate")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), "phrase field focused")
        await pilot.press("escape")
    assert app.return_code == 2
    assert fake.live_confirmations == 0


async def test_live_gate_confirms_the_runtime_on_the_exact_phrase_only(make_app, fake: FakeRuntime) -> None:
    app = make_app(confirm_live="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveGateScreen), "live gate")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), "phrase field focused")
        assert app.screen.query_one(Input).cursor_blink is False
        await pilot.press("L", "I", "V")
        assert fake.live_confirmations == 0
        await pilot.press("E", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConsoleScreen), "console")
        assert app.return_code is None
        assert fake.live_confirmations == 1


async def test_command_palette_offers_the_sweep(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "command palette")
        await pilot.press(*"sweep")
        commands = app.screen.query_one(CommandList)

        def prompts() -> list[str]:
            return [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]

        await wait_until(
            pilot, lambda: bool(prompts()) and prompts()[0].startswith("Sweep"), "sweep listed first"
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "sweep confirmation")
        await wait_until(pilot, lambda: app.focused is not None, "sweep confirmation focused")
        assert app.screen.query_one("#no", Button).has_focus


async def test_the_header_reads_recovering_while_the_runtime_recovers(make_app, fake: FakeRuntime) -> None:
    fake.status = RuntimeStatus.RECOVERING
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        assert header_status(app) == "◌ RECOVERING"
        fake.status = RuntimeStatus.RUNNING
        app.refresh_from_snapshot()
        await pilot.pause()
        assert header_status(app) == "● RUNNING"


async def test_during_start_up_the_header_shows_the_phase_instead_of_its_figures(
    make_app, fake: FakeRuntime
) -> None:
    fake.status, fake.progress = RuntimeStatus.STARTING, "loading history 12/48"
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        metrics = plain(app.console_screen.query_one("#header-metrics", Static))
        assert metrics == "loading history 12/48…"
        fake.status, fake.progress = RuntimeStatus.RUNNING, ""
        app.refresh_from_snapshot()
        await pilot.pause()
        assert plain(app.console_screen.query_one("#header-metrics", Static)).startswith("Eq ")
