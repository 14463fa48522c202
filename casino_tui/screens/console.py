"""The main screen: header, STALE banner and the five panes, laid out for the terminal's size."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input

from casino_tui.screens.attention import FilterBar
from casino_tui.screens.header import HeaderBar, StaleBanner
from casino_tui.screens.panes.brackets import BracketsPane
from casino_tui.screens.panes.breakers import BreakersPane
from casino_tui.screens.panes.consensus import ConsensusPane
from casino_tui.screens.panes.logs import LogsPane
from casino_tui.screens.panes.streams import StreamsPane
from casino_tui.snapshot import LogLine, RuntimeSnapshot

# Below 120 columns the middle row stacks and Breakers folds to one line; below 36 rows panes shrink.
WIDE_COLUMNS = 120
TALL_ROWS = 36


class ConsoleScreen(Screen[None]):
    """Renders one RuntimeSnapshot at a time; it never reads the runtime itself."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE_COLUMNS, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (TALL_ROWS, "-tall")]
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
        yield Footer()

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
