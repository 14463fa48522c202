"""The console over a real replay: the header shows the replay's progress, and when the data ends the runtime
stops, the report is written and the Trades screen opens on its summary and equity curve while the console
stays open."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from casino_tui.backtest.report import ReplayReport
from casino_tui.console import console_app, engine_running
from casino_tui.replay import show_summary
from casino_tui.screens.equity import EquityPlot
from casino_tui.screens.quit import QuitScreen
from casino_tui.screens.trades import TradesScreen
from tests.ui.pilot_support import header_status, plain, wait_until
from tests.unit.replay_support import klines_file, random_walk_bars, replay_runtime, trading_config


async def test_the_console_follows_a_replay_to_its_end_and_shows_the_report_summary_and_equity_curve(
    tmp_path: Path,
) -> None:
    files = [
        klines_file(tmp_path, "AAAUSDT", random_walk_bars(1, 300, 100.0)),
        klines_file(tmp_path, "BBBUSDT", random_walk_bars(2, 300, 2.5)),
    ]
    config = trading_config()
    runtime = replay_runtime(files, config, tmp_path / "state", warmup=60, tick=None)
    app = console_app(runtime, config)
    show_summary(runtime, app)
    async with engine_running(runtime, app):
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: runtime.report_path is not None, "the report written")
            await wait_until(
                pilot, lambda: header_status(app).endswith("STOPPED"), "the header saying STOPPED"
            )

            report = runtime.report
            assert isinstance(report, ReplayReport) and report.complete
            assert runtime.report_path is not None and runtime.report_path.is_file()
            await wait_until(pilot, lambda: isinstance(app.screen, TradesScreen), "the replay's end shown")
            ending = app.screen
            assert isinstance(ending, TradesScreen)
            await wait_until(pilot, lambda: ending.version is not None, "the ending drawn")
            summary = plain(ending.query_one("#trades-summary", Static))
            assert f"{report.ticks:,} ticks" in summary and f"trades {report.trades}" in summary, summary
            assert f"report: {runtime.report_path.name}" in summary
            plot = ending.query_one(EquityPlot)
            assert plot.display and len(report.equity) >= 2  # the report's equity series, drawn
            assert ending.table.row_keys == tuple(t.bracket_id for t in runtime.trade_history().recent)
            assert len(ending.table.row_keys) == report.trades > 0
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.console_screen, "back on the console")
            clock = plain(app.console_screen.query_one("#header-clock", Static))
            assert clock.endswith("REPLAY max 100%"), clock
            assert app.is_running  # the operator reads the summary, then quits


async def test_quitting_the_console_mid_replay_stops_it_in_order_with_a_report_of_what_was_replayed(
    tmp_path: Path,
) -> None:
    files = [klines_file(tmp_path, "AAAUSDT", random_walk_bars(1, 600, 100.0))]
    config = trading_config()
    runtime = replay_runtime(files, config, tmp_path / "state", warmup=60, tick=None, speed=60.0)
    app = console_app(runtime, config)
    show_summary(runtime, app)
    async with engine_running(runtime, app):
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: header_status(app).endswith("RUNNING"), "the replay running")
            clock = plain(app.console_screen.query_one("#header-clock", Static))
            assert "REPLAY 60×" in clock, clock
            await pilot.press("q")
            await pilot.pause()
            if isinstance(app.screen, QuitScreen):  # a bracket was open: keep it, as an operator may
                await pilot.press("k")
            await wait_until(pilot, lambda: not app.is_running, "the console closed")
    report = runtime.report
    assert report is not None and not report.complete and report.stopped_by == "operator"
    assert runtime.report_path is not None and runtime.report_path.is_file()
