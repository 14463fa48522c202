"""Help lists every key the console and its dialogs answer to, built from their bindings, and explains every
abbreviation the console uses."""

from __future__ import annotations

import re

from textual.binding import Binding

from casino_tui.app import CasinoApp
from casino_tui.screens.header import SHORT_STATUS
from casino_tui.screens.help import DIALOGS, HelpScreen, binding_rows, help_sections, key_name
from tests.ui.pilot_support import screen_lines, start, wait_until


def reads_in_order(text: str, phrase: str) -> bool:
    """`phrase` appears word by word in `text`, whatever wrapping and borders fall between its words."""
    return re.search(".*?".join(re.escape(word) for word in phrase.split()), text) is not None


def listed_keys(sections: object) -> set[str]:
    screen = HelpScreen(sections)  # type: ignore[arg-type]
    return {key for row in screen.rows for key in row.keys.split()}


def keys_of(bindings: list[object]) -> set[str]:
    return {binding.key_display or key_name(binding.key) for binding in Binding.make_bindings(bindings)}  # type: ignore[arg-type]


def test_help_lists_every_key_bound_on_the_console_shown_or_not() -> None:
    keys = listed_keys(help_sections(CasinoApp.BINDINGS))
    missing = keys_of(CasinoApp.BINDINGS) - keys  # type: ignore[arg-type]
    assert not missing, f"console keys missing from help: {missing}"
    assert {"f", "^c", "^q"} <= keys  # hidden from the footer, not from help


def test_help_lists_every_key_of_every_dialog() -> None:
    keys = listed_keys(help_sections(CasinoApp.BINDINGS))
    for title, screen in DIALOGS:
        missing = keys_of(screen.BINDINGS) - keys  # type: ignore[arg-type]
        assert not missing, f"{title}: keys missing from help: {missing}"


def test_one_key_for_two_actions_is_one_row_naming_both() -> None:
    rows = binding_rows(
        [Binding("p", "pause", "Pause", tooltip="Stop entries"), Binding("p", "resume", "Resume")]
    )
    assert [(row.keys, row.action, row.detail) for row in rows] == [("p", "Pause / Resume", "Stop entries")]


def test_keys_for_one_action_share_its_row() -> None:
    rows = binding_rows([Binding("q", "quit", "Quit"), Binding("ctrl+c", "quit", "Quit", show=False)])
    assert [(row.keys, row.action) for row in rows] == [("q ^c", "Quit")]


def test_the_legend_explains_every_abbreviated_status() -> None:
    legend = {row.keys: row.action for row in HelpScreen([]).rows}
    for status, short in SHORT_STATUS.items():
        assert legend.get(short) == status.value


async def test_at_80x24_help_wraps_its_text_and_scrolls_to_the_legend(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "help open")
        await pilot.pause()
        text = " ".join(" ".join(line.split()) for line in screen_lines(app))
        assert "…" not in text, "a help line was cut"
        assert reads_in_order(text, "Toggle new entries; open brackets stay managed"), text
        scroll = app.screen.query_one("#help-scroll")
        assert scroll.max_scroll_y > 0, "more than one screen of help"
        scroll.scroll_end(animate=False)
        await pilot.pause()
        text = " ".join(" ".join(line.split()) for line in screen_lines(app))
        assert "WARN CRIT" in text and "Log level" in text, text
