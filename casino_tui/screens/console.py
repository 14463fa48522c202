"""The main screen: header, STALE banner and the five panes, laid out for the terminal's size.

Below 80×24 the screen goes compact: header, STALE banner, Brackets and the footer, with Quit pinned to its
right edge so no width can push it off.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.widgets._footer import FooterKey  # not exported; textual is pinned exactly (pyproject)

from casino_tui.screens.attention import FilterBar
from casino_tui.screens.header import HeaderBar, StaleBanner
from casino_tui.screens.panes.brackets import BracketsPane
from casino_tui.screens.panes.breakers import BreakersPane
from casino_tui.screens.panes.consensus import ConsensusPane
from casino_tui.screens.panes.logs import LogsPane
from casino_tui.screens.panes.streams import StreamsPane
from casino_tui.snapshot import LogLine, RuntimeSnapshot

# Below 120 columns the middle row stacks and Breakers folds to one line; below 36 rows panes shrink;
# below 80 columns or 24 rows only the header, Brackets and the footer remain.
WIDE_COLUMNS = 120
TALL_ROWS = 36
FULL_SIZE = Size(80, 24)
QUIT_ACTION = "quit_console"  # the console binding the compact footer pins (app.py)


def layout_classes(size: Size) -> dict[str, bool]:
    """The screen's layout classes for a terminal of `size` (casino.tcss styles each)."""
    is_wide, is_tall = size.width >= WIDE_COLUMNS, size.height >= TALL_ROWS
    return {
        "-wide": is_wide,
        "-narrow": not is_wide,
        "-tall": is_tall,
        "-short": not is_tall,
        "-compact": size.width < FULL_SIZE.width or size.height < FULL_SIZE.height,
    }


class ConsoleFooter(Footer):
    """The footer, with the Quit key marked `-quit` so the compact layout can pin it to the right edge."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action == QUIT_ACTION:
                widget.add_class("-quit")
            yield widget


class ConsoleScreen(Screen[None]):
    """Renders one RuntimeSnapshot at a time; it never reads the runtime itself."""

    AUTO_FOCUS = "#consensus-table"

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield StaleBanner(id="stale")
        with Horizontal(id="top"):
            yield StreamsPane(id="streams")
            yield ConsensusPane(id="consensus")
        with Horizontal(id="middle"):
            yield BracketsPane(id="brackets")
            yield BreakersPane(id="breakers")
        yield LogsPane(id="logs")
        yield FilterBar(id="filter")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self._fit_layout(self.app.size)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_layout(event.size)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # A resize while a modal was on top reached only the modal: catch up on the way back.
        self._fit_layout(self.app.size)

    @property
    def is_compact(self) -> bool:
        """True below 80×24, where only the header, Brackets and the footer are shown."""
        return self.has_class("-compact")

    def _fit_layout(self, size: Size) -> None:
        for name, is_on in layout_classes(size).items():
            self.set_class(is_on, name)

    symbol_filter = ""  # the symbol tables show only symbols containing this text (see attention.py)
    _shown: RuntimeSnapshot | None = None  # the snapshot on screen, shown again when the filter changes

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    @property
    def streams(self) -> StreamsPane:
        return self.query_one(StreamsPane)

    @property
    def consensus(self) -> ConsensusPane:
        return self.query_one(ConsensusPane)

    @property
    def brackets(self) -> BracketsPane:
        return self.query_one(BracketsPane)

    @property
    def breakers(self) -> BreakersPane:
        return self.query_one(BreakersPane)

    @property
    def logs(self) -> LogsPane:
        return self.query_one(LogsPane)

    def open_filter(self) -> None:
        """Show the filter input and type into it."""
        bar = self.filter_bar
        bar.display = True
        bar.focus()

    def clear_filter(self) -> None:
        """Every symbol again; the input hides and the tables have the keys."""
        bar = self.filter_bar
        bar.value = ""  # its Changed message shows every row again
        bar.display = False
        self.consensus.table.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.symbol_filter = event.value.strip()
        if self._shown is not None:
            with self.app.batch_update():
                self.show(self._shown)  # the rows on screen narrowed now, not at the next refresh

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self.symbol_filter:
            self.consensus.table.focus()  # the filter stays in force, shown in its bar
        else:
            self.clear_filter()

    def show(self, snapshot: RuntimeSnapshot) -> list[LogLine]:
        """Update every widget from `snapshot` (call inside `app.batch_update()`); returns new log lines."""
        self._shown = snapshot
        self.query_one(HeaderBar).show(snapshot.header)
        self.query_one(StaleBanner).show(snapshot.header)
        self.streams.show(snapshot.streams, self.symbol_filter)
        self.consensus.show(snapshot.consensus, self.symbol_filter)
        self.brackets.show(snapshot.brackets, self.symbol_filter)
        self.breakers.show(snapshot.breakers, snapshot.limits)
        return self.logs.show(snapshot.logs)
