"""The Logs pane follows the newest line through height changes; scrolled up, it says what waits and how
to come back."""

from __future__ import annotations

from rich.text import Text
from textual.pilot import Pilot

from casino_tui.app import CasinoApp
from casino_tui.screens.panes.logs import LogsPane, TailLog
from tests.ui.fake_runtime import FakeRuntime
from tests.ui.pilot_support import start, wait_until


def add_lines(fake: FakeRuntime, count: int, prefix: str) -> None:
    for n in range(count):
        fake.add_log("INFO", "player", f"{prefix} line {n}")


def on_tail(log: TailLog) -> bool:
    """The last line is in view: the view is scrolled to its end and there is more than one screen."""
    return log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y


def subtitle(pane: LogsPane) -> str:
    return Text.from_markup(str(pane.border_subtitle)).plain


async def filled(app: CasinoApp, pilot: Pilot[None], fake: FakeRuntime) -> TailLog:
    """Start the console and fill the Logs pane with more lines than it can show."""
    await start(app, pilot)
    add_lines(fake, 40, "first")
    app.refresh_from_snapshot()
    log = app.console_screen.logs.log_widget
    await wait_until(pilot, lambda: on_tail(log), "the pane on its newest line")
    return log


async def test_the_log_keeps_following_after_the_terminal_is_resized(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        log = await filled(app, pilot, fake)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        add_lines(fake, 5, "after resize")
        app.refresh_from_snapshot()
        await wait_until(pilot, lambda: on_tail(log), "the newest line in view after the resize")
        assert log.following
        assert log.lines[-1].endswith("after resize line 4")


async def test_the_log_keeps_following_when_the_stale_banner_appears(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        log = await filled(app, pilot, fake)
        fake.set_stale("no trade for 12s on 8 streams")
        add_lines(fake, 5, "while stale")
        app.refresh_from_snapshot()
        await pilot.pause()
        add_lines(fake, 1, "later")
        app.refresh_from_snapshot()
        await wait_until(pilot, lambda: on_tail(log), "the newest line in view under the STALE banner")
        assert log.following


async def test_scrolled_up_the_pane_stops_following_and_counts_the_lines_that_wait(
    make_app, fake: FakeRuntime
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        log = await filled(app, pilot, fake)
        log.focus()
        await pilot.press("pageup")
        await wait_until(pilot, lambda: not log.following, "following stopped")
        scrolled_to = log.scroll_y
        add_lines(fake, 4, "unseen")
        app.refresh_from_snapshot()
        await pilot.pause()
        pane = app.console_screen.logs
        assert log.scroll_y == scrolled_to  # the view stays where the operator put it
        assert pane.waiting == 4
        assert "4 new · f: follow" in subtitle(pane)


async def test_f_returns_a_scrolled_up_pane_to_following(make_app, fake: FakeRuntime) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        log = await filled(app, pilot, fake)
        log.focus()
        await pilot.press("pageup")
        await wait_until(pilot, lambda: not log.following, "following stopped")
        add_lines(fake, 3, "unseen")
        app.refresh_from_snapshot()
        await pilot.press("f")
        await wait_until(pilot, lambda: log.following and on_tail(log), "following again")
        pane = app.console_screen.logs
        assert pane.waiting == 0
        assert "f: follow" not in subtitle(pane)
