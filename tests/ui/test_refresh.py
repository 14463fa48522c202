"""The feed: snapshot in, diff out. Tables touch only changed rows; logs append; rare events notify once."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from casino_tui.app import CasinoApp
from casino_tui.port import BreakerStatus
from casino_tui.screens import cells
from casino_tui.screens.attention import streams_by_attention
from casino_tui.screens.panes.streams import SPARK_WIDTH
from casino_tui.screens.panes.table import SyncStats
from tests.ui.fake_runtime import FakeRuntime
from tests.ui.pilot_support import notifications, plain, start, wait_until

SIZE = (160, 48)


class CountingRuntime(FakeRuntime):
    """Counts snapshot reads, to tell who asked for one."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshot_reads = 0

    def snapshot(self):  # type: ignore[no-untyped-def]
        self.snapshot_reads += 1
        return super().snapshot()


async def test_one_changed_price_updates_only_that_row(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        screen = app.console_screen
        streams = screen.streams.table
        by_attention = streams_by_attention(fake.snapshot().streams)
        assert streams.last_sync.added == tuple(row.symbol for row in by_attention)

        app.refresh_from_snapshot()  # nothing changed: nothing touched
        assert streams.last_sync == SyncStats()
        assert screen.consensus.table.last_sync == SyncStats()
        assert screen.brackets.table.last_sync == SyncStats()

        fake.set_price("SOLUSDT", 146.07)
        app.refresh_from_snapshot()
        assert streams.last_sync.updated == ("SOLUSDT",)
        assert streams.last_sync.added == () and streams.last_sync.removed == ()
        assert streams.last_sync.cells_changed == 3  # last, change, sparkline
        assert str(streams.get_cell("SOLUSDT", "last")) == "146.07"
        assert screen.consensus.table.last_sync == SyncStats()
        assert screen.brackets.table.last_sync == SyncStats()  # no SOL bracket


async def test_a_closed_bracket_row_is_removed_and_the_rest_kept(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        table = app.console_screen.brackets.table
        assert table.row_keys == ("b-0003", "b-0001", "b-0002")  # the naked XRP position first

        fake.close_bracket("b-0002")
        app.refresh_from_snapshot()
        assert table.last_sync.removed == ("b-0002",)
        assert table.last_sync.added == () and table.last_sync.updated == ()
        assert table.row_keys == ("b-0003", "b-0001")
        assert table.row_count == 2


async def test_an_unprotected_open_position_is_red_from_end_to_end(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        table = app.console_screen.brackets.table
        at_risk = table.markup("b-0003")
        assert all(cell.startswith(f"[bold {cells.RED}]") for cell in at_risk)
        assert not any(cell.startswith(f"[bold {cells.RED}]") for cell in table.markup("b-0001"))
        assert "UNPROTECTED" in str(app.console_screen.brackets.border_subtitle)


async def test_logs_append_only_lines_newer_than_the_last_seen(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        log = app.console_screen.logs.log_widget
        assert log.line_count == len(fake.logs)
        app.refresh_from_snapshot()
        assert log.line_count == len(fake.logs)

        fake.add_log("INFO", "player", "SHORT decision: consensus -0.52", symbol="ADAUSDT")
        app.refresh_from_snapshot()
        assert log.line_count == len(fake.logs)
        assert log.lines[-1].endswith("ADAUSDT SHORT decision: consensus -0.52")


async def test_an_error_line_notifies_once(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.pause()
        assert notifications(app) == []
        fake.add_log(
            "ERROR", "croupier", "order rejected: -2019 Margin is insufficient [x]", symbol="SOLUSDT"
        )
        app.refresh_from_snapshot()
        app.refresh_from_snapshot()
        await pilot.pause()  # notify() posts a message
        assert notifications(app) == ["order rejected: -2019 Margin is insufficient [x]"]


async def test_a_breaker_opening_notifies_once(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        fake.set_breaker("orders", BreakerStatus.OPEN, failures=5, reason="HTTP 503 x5", cooldown_s=30.0)
        app.refresh_from_snapshot()
        app.refresh_from_snapshot()
        await pilot.pause()  # notify() posts a message
        assert notifications(app) == ["Breaker orders OPEN: HTTP 503 x5"]
        row = app.console_screen.breakers.table.markup("orders")
        assert "OPEN" in row[1] and "HTTP 503 x5" in row[4]


async def test_stale_data_shows_a_banner_with_the_reason(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        banner = app.console_screen.query_one("#stale", Static)
        assert not banner.display
        fake.set_stale("no trade for 12s on 8 streams")
        app.refresh_from_snapshot()
        await pilot.pause()
        assert banner.display
        assert plain(banner) == "⚠ STALE — no trade for 12s on 8 streams"


async def test_without_live_the_app_reads_no_snapshot_until_asked() -> None:
    runtime = CountingRuntime()
    app = CasinoApp(runtime, live=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert runtime.snapshot_reads == 0
        await start(app, pilot)
        assert runtime.snapshot_reads == 1


async def test_live_app_pulls_snapshots_on_its_own_timer() -> None:
    runtime = CountingRuntime()
    app = CasinoApp(runtime, live=True, refresh_hz=20.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: runtime.snapshot_reads >= 3, "three timed refreshes")
        assert app.console_screen.streams.table.row_count == 8


async def test_every_pane_keeps_its_title_on_a_small_terminal(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        screen = app.console_screen
        panes = (screen.streams, screen.consensus, screen.brackets, screen.breakers, screen.logs)
        assert [pane.border_title for pane in panes] == [
            "Streams",
            "Consensus",
            "Brackets",
            "Breakers",
            "Logs",
        ]
        for pane in panes:
            region = pane.region
            assert region.height >= 3, f"{pane.border_title} collapsed to {region}"
            assert region.right <= 80 and region.bottom <= 23, f"{pane.border_title} off screen: {region}"
        # the essentials of each table survive the squeeze
        assert {"symbol", "last", "change"} <= set(screen.streams.table.shown_columns)
        assert {"symbol", "score", "decision"} <= set(screen.consensus.table.shown_columns)
        assert {"symbol", "side", "sl", "upnl", "state", "protected"} <= set(
            screen.brackets.table.shown_columns
        )


async def test_a_wide_terminal_shows_every_column_and_a_longer_sparkline(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await start(app, pilot)
        screen = app.console_screen
        brackets, streams = screen.brackets.table, screen.streams.table
        assert brackets.shown_columns == tuple(column.key for column in brackets.all_columns)
        assert streams.shown_columns == tuple(column.key for column in streams.all_columns)
        assert streams.width_of("spark") > SPARK_WIDTH
        spark = Text.from_markup(streams.markup("BTCUSDT")[-1]).plain
        assert len(spark) == min(streams.width_of("spark"), len(app.last_snapshot.streams[0].spark))
        assert set(spark) <= set(cells.SPARK_CHARS)
