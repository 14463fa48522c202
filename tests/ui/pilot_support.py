"""Small pieces the console tests share: waiting on a condition, reading widget text, notifications."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from casino_tui.app import CasinoApp

DEADLINE_PAUSES = 400  # pauses before a waited-for condition counts as never met (seconds on a busy box)


async def wait_until(pilot: Pilot[None], condition: Callable[[], object], what: str) -> None:
    """Let the app run until `condition` holds; fail with `what` if it never does."""
    for _ in range(DEADLINE_PAUSES):
        if condition():
            return
        await pilot.pause()
    raise AssertionError(f"timed out waiting for: {what}")


def plain(widget: Static) -> str:
    """The text a Static shows, without markup."""
    return Text.from_markup(str(widget.content)).plain


def header_status(app: CasinoApp) -> str:
    return plain(app.console_screen.query_one("#header-status", Static))


def notifications(app: CasinoApp) -> list[str]:
    """Messages of the notifications currently shown."""
    # Textual keeps no public list of live notifications; this private one has been stable since 0.30.
    return [notification.message for notification in app._notifications]


async def start(app: CasinoApp, pilot: Pilot[None]) -> None:
    """Wait for the console to be composed, then show the first snapshot (live=False apps)."""
    await wait_until(pilot, lambda: app.is_console_ready, "console composed")
    app.refresh_from_snapshot()
    await pilot.pause()


def screen_lines(app: CasinoApp) -> list[str]:
    """The terminal's rows as plain text, as the operator sees them (modals and all)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False)
    # What App.export_screenshot renders, as text: Textual has no public call for it.
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False).splitlines()
