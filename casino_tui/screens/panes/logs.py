"""The Logs pane: the runtime's recent log lines, appended by sequence number, with a level filter; it follows
the tail until the operator scrolls up, and then says how many new lines wait. A line longer than the pane
is wide wraps, its continuation rows indented under the level column."""

from __future__ import annotations

import textwrap
from collections import deque
from collections.abc import Iterable

from rich.highlighter import Highlighter
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Log

from casino_tui.screens import cells
from casino_tui.snapshot import LogLine

MAX_LINES = 1000
FOLLOW_KEY = "f"  # the console binding that returns the pane to following (app.py)

LEVEL_NUMBERS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
SHORT_LEVELS = {"WARNING": "WARN", "CRITICAL": "CRIT"}
LEVEL_COLOURS = {"DEBUG": cells.DIM, "WARN": cells.YELLOW, "ERROR": cells.RED, "CRIT": cells.RED}

# The filter cycle that `l` steps through; ALL also shows DEBUG.
FILTERS = ("ALL", "INFO", "WARNING", "ERROR")

# Column layout of a formatted line, which the highlighter relies on: "HH:MM:SS LEVEL component ...".
LEVEL_START, LEVEL_END = 9, 14
COMPONENT_START, COMPONENT_END = 15, 25
CONTINUATION = " " * LEVEL_START  # a wrapped line's later rows leave the time column clear
MIN_WRAP_WIDTH = 40  # narrower than this (or before layout) a line stays whole and the pane cuts it


def level_number(level: str) -> int:
    """A level name's logging number (unknown names count as INFO)."""
    return LEVEL_NUMBERS.get(level.upper(), 20)


def format_line(line: LogLine) -> str:
    """One log line as the pane shows it: time, level, component, symbol, message."""
    level = SHORT_LEVELS.get(line.level.upper(), line.level.upper())
    symbol = f"{line.symbol} " if line.symbol else ""
    message = line.message.replace("\n", " ⏎ ")
    return f"{cells.utc_clock(line.ts_ms)} {level:<5.5} {line.component:<10.10} {symbol}{message}"


def wrap_line(text: str, width: int) -> list[str]:
    """`text` as rows of at most `width` characters, the later ones indented by CONTINUATION."""
    if len(text) <= width or width < MIN_WRAP_WIDTH:
        return [text]
    return textwrap.wrap(text, width, subsequent_indent=CONTINUATION, break_on_hyphens=False)


class LogLineHighlighter(Highlighter):
    """Colours the time, level and component columns of a line made by `format_line`."""

    def highlight(self, text: Text) -> None:
        if text.plain.startswith(CONTINUATION):
            return  # a wrapped line's continuation: message text only
        text.stylize(cells.DIM, 0, 8)
        level = text.plain[LEVEL_START:LEVEL_END].strip()
        colour = LEVEL_COLOURS.get(level)
        if colour:
            text.stylize(f"bold {colour}", LEVEL_START, LEVEL_END)
        text.stylize(cells.ACCENT, COMPONENT_START, COMPONENT_END)


class TailLog(Log):
    """A Log that follows its tail through height changes; only scrolling up stops it, reaching the end
    (or `follow()`) resumes it. Log's own auto-scroll stops whenever a resize leaves it short of the end."""

    class FollowChanged(Message):
        """Following stopped or resumed."""

        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    class WidthChanged(Message):
        """The width a row may take changed: wrapped lines must be wrapped again."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=MAX_LINES, highlight=True, auto_scroll=False, id=id)
        self.highlighter = LogLineHighlighter()
        self.following = True
        self._row_width = 0

    @property
    def row_width(self) -> int:
        """Characters a row may take: the content width less the scrollbar's column, kept even before the
        scrollbar shows so that rows do not change width when it appears."""
        return max(self.content_region.width - 1, 0)

    def append(self, lines: list[str]) -> None:
        """Write `lines`, staying on the tail while following."""
        self.write_lines(lines, scroll_end=False)
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def follow(self) -> None:
        """Jump to the tail and follow it again."""
        self._set_following(True)
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y:
            self._set_following(True)
        elif new_value < old_value:
            self._set_following(False)  # only the operator moves the view up, away from the end

    def on_resize(self, event: events.Resize) -> None:
        if self.row_width != self._row_width:
            self._row_width = self.row_width
            self.post_message(self.WidthChanged())
        if self.following:
            self.scroll_end(animate=False, x_axis=False)  # after the layout settles on the new height

    def _set_following(self, following: bool) -> None:
        if following != self.following:
            self.following = following
            self.post_message(self.FollowChanged(following))


class LogsPane(Vertical):
    """Appends only lines newer than the last seen `seq`, in one batched write per refresh."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self.border_title = "Logs"
        self._kept: deque[LogLine] = deque(maxlen=MAX_LINES)
        self._last_seq = -1
        self._filter_index = 0
        self._waiting = 0  # lines written below the view since the operator scrolled up
        self._update_subtitle()

    def compose(self) -> ComposeResult:
        yield TailLog(id="logs-log")

    @property
    def log_widget(self) -> TailLog:
        return self.query_one(TailLog)

    @property
    def is_following(self) -> bool:
        return self.log_widget.following

    @property
    def waiting(self) -> int:
        """New lines written since the operator scrolled up (0 while following)."""
        return self._waiting

    def follow(self) -> None:
        """Return to the tail and follow it."""
        self.log_widget.follow()

    @property
    def level_filter(self) -> str:
        """The current filter: ALL, INFO, WARNING or ERROR (each shows that level and above)."""
        return FILTERS[self._filter_index]

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def show(self, lines: Iterable[LogLine]) -> list[LogLine]:
        """Append lines with `seq` above the last seen one; returns those new lines."""
        new = [line for line in lines if line.seq > self._last_seq]
        if not new:
            return new
        self._last_seq = new[-1].seq
        self._kept.extend(new)
        visible = [line for line in new if self._passes(line)]
        if visible:
            log = self.log_widget
            log.append(self._rows(visible))
            if not log.following:
                self._waiting += len(visible)
                self._update_subtitle()
        return new

    def cycle_filter(self) -> str:
        """Step to the next level filter and redraw the kept lines through it; returns the new filter."""
        self._filter_index = (self._filter_index + 1) % len(FILTERS)
        self._redraw(follow=True)
        self._update_subtitle()
        return self.level_filter

    def on_tail_log_width_changed(self, event: TailLog.WidthChanged) -> None:
        self._redraw(follow=self.is_following)

    def _redraw(self, *, follow: bool) -> None:
        """Write every kept line that passes the filter again, wrapped to the current width."""
        log = self.log_widget
        log.clear()
        log.append(self._rows(line for line in self._kept if self._passes(line)))
        if follow:
            log.follow()

    def _rows(self, lines: Iterable[LogLine]) -> list[str]:
        width = self.log_widget.row_width
        return [row for line in lines for row in wrap_line(format_line(line), width)]

    def _passes(self, line: LogLine) -> bool:
        if self._filter_index == 0:
            return True
        return level_number(line.level) >= LEVEL_NUMBERS[self.level_filter]

    def on_tail_log_follow_changed(self, event: TailLog.FollowChanged) -> None:
        if event.following:
            self._waiting = 0
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        shown = "all levels" if self._filter_index == 0 else f"≥ {self.level_filter}"
        subtitle = f"{shown} · l: filter"
        if self.is_mounted and not self.log_widget.following:
            paused = f"⏸ not following · {self._waiting} new · {FOLLOW_KEY}: follow"
            subtitle = f"[bold {cells.YELLOW}]{paused}[/] · {subtitle}"
        self.border_subtitle = subtitle
