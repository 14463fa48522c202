"""The console's one-line header (mode, status, equity, PnL, positions, loop lag, clock) and STALE banner.

The clock is the runtime's, named as it is: `UTC` on the wall clock, `SIM 30×` on the simulated one. On a
narrow terminal the header packs itself tighter, step by step, rather than cut a figure off at the edge.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import NamedTuple

from rich.markup import escape
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from casino_tui.lifecycle import RuntimeStatus
from casino_tui.model import TradingMode
from casino_tui.screens import cells
from casino_tui.screens.redraw import update_static
from casino_tui.snapshot import HeaderView

_S = RuntimeStatus
MODE_CLASSES = {
    TradingMode.PAPER: "-paper",
    TradingMode.TESTNET: "-testnet",
    TradingMode.LIVE: "-live",
    TradingMode.REPLAY: "-paper",  # no real money either
}
STATUS_CLASSES = {
    _S.STARTING: "-busy",
    _S.UNCONFIRMED: "-busy",
    _S.RECOVERING: "-busy",
    _S.RUNNING: "-running",
    _S.PAUSED: "-paused",
    _S.STOPPING: "-stopping",
    _S.STOPPED: "-stopping",
}
STATUS_MARKS = {
    _S.STARTING: "◌",
    _S.UNCONFIRMED: "◌",
    _S.RECOVERING: "◌",
    _S.RUNNING: "●",
    _S.PAUSED: "‖",
    _S.STOPPING: "■",
    _S.STOPPED: "■",
}


# Long status names and their short forms for a narrow header; the help screen lists them as a legend.
SHORT_STATUS = {_S.UNCONFIRMED: "UNCONF", _S.RECOVERING: "RECOV"}
PART_PADDING = 2  # `#header > Static { padding: 0 1 }` in casino.tcss


class Density(enum.IntEnum):
    """How tightly the header packs its parts; each step keeps the savings of the steps before it."""

    FULL = 0  # two spaces between figures, the clock with its name
    TIGHT = 1  # one space between figures
    SHORT = 2  # long status names abbreviated (SHORT_STATUS), equity in whole units
    BARE_CLOCK = 3  # the clock without its name (SIM 30×, UTC)
    NO_CLOCK = 4  # no clock: status, positions and lag matter more than the time
    MARK_ONLY = 5  # the status as its coloured mark alone (● ‖ ◌ ■, in the help's legend)


class HeaderTexts(NamedTuple):
    """The markup of the header's four parts at one density."""

    mode: str
    status: str
    metrics: str
    clock: str

    def cell_width(self) -> int:
        """Columns the header needs to show every part whole, padding included."""
        parts = [part for part in self if part]
        return sum(Text.from_markup(part).cell_len for part in parts) + PART_PADDING * len(parts)


def lag_text(lag_ms: float) -> str:
    """Loop lag in its unit: 1.4ms, 123ms, 1.2s."""
    if lag_ms < 100:
        return f"{lag_ms:.1f}ms"
    if lag_ms < 1000:
        return f"{lag_ms:.0f}ms"
    return f"{lag_ms / 1000:.1f}s"


def metrics_markup(header: HeaderView, density: Density = Density.FULL) -> str:
    """Equity, PnL, open/max positions and loop lag, spaced and rounded as `density` allows."""
    lag_colour = cells.RED if header.loop_lag_ms >= 100 else cells.YELLOW if header.loop_lag_ms >= 20 else ""
    lag = lag_text(header.loop_lag_ms)
    if lag_colour:
        lag = f"[{lag_colour}]{lag}[/]"
    full = header.open_positions >= header.max_positions > 0
    positions = f"{header.open_positions}/{header.max_positions}"
    if full:
        positions = f"[{cells.YELLOW}]{positions}[/]"
    equity = f"{header.equity:,.0f}" if density >= Density.SHORT else cells.money(header.equity)
    gap = "  " if density is Density.FULL else " "
    return gap.join(
        (
            f"[{cells.DIM}]Eq[/] {equity}",
            f"[{cells.DIM}]PnL[/] {cells.signed_money(header.pnl)}",
            f"[{cells.DIM}]Pos[/] {positions}",
            f"[{cells.DIM}]Lag[/] {lag}",
        )
    )


def header_texts(header: HeaderView, density: Density = Density.FULL) -> HeaderTexts:
    """Mode, status, figures (or the start-up phase) and clock at one density."""
    status = header.status
    name = SHORT_STATUS.get(status, status.value) if density >= Density.SHORT else status.value
    # During start-up the figures are not yet true (Eq 0.00): the phase is what the operator needs.
    if header.progress:
        metrics = f"[{cells.ACCENT}]{escape(header.progress)}…[/]"
    else:
        metrics = metrics_markup(header, density)
    clock = cells.utc_clock(header.clock_ms)
    if density < Density.BARE_CLOCK:
        clock = f"{clock} {escape(header.clock_label)}"
    elif density >= Density.NO_CLOCK:
        clock = ""
    status_text = STATUS_MARKS[status]
    if density < Density.MARK_ONLY:
        status_text = f"{status_text} {escape(name)}"
    return HeaderTexts(escape(header.mode.value), status_text, metrics, clock)


def fitting_texts(header: HeaderView, width: int) -> HeaderTexts:
    """The loosest density whose parts all fit `width` columns (the tightest if none does)."""
    for density in Density:
        texts = header_texts(header, density)
        if texts.cell_width() <= width:
            return texts
    return texts


class HeaderBar(Horizontal):
    """Rewrites each part only when its text changed, so a steady header costs nothing per refresh."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._texts: dict[str, str] = {}
        self._header: HeaderView | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="header-mode")
        yield Static(id="header-status")
        yield Static(id="header-metrics")
        yield Static(id="header-clock")

    def show(self, header: HeaderView) -> None:
        """Render one HeaderView, packed to the header's width."""
        self._header = header
        texts = fitting_texts(header, self.size.width) if self.size.width else header_texts(header)
        mode, status = header.mode, header.status
        self._set("header-mode", texts.mode, MODE_CLASSES[mode], MODE_CLASSES.values())
        self._set("header-status", texts.status, STATUS_CLASSES[status], STATUS_CLASSES.values())
        self._set("header-metrics", texts.metrics)
        self._set("header-clock", texts.clock)

    def on_resize(self, event: events.Resize) -> None:
        if self._header is not None:
            self.show(self._header)

    def _set(self, widget_id: str, text: str, css_class: str = "", classes: Iterable[str] = ()) -> None:
        previous = self._texts.get(widget_id)
        if previous == text:
            return
        self._texts[widget_id] = text
        widget = self.query_one(f"#{widget_id}", Static)
        update_static(widget, text, previous)
        widget.display = bool(text)
        if css_class:
            widget.remove_class(*classes)
            widget.add_class(css_class)


class StaleBanner(Static):
    """A full-width warning shown only while market data has stopped arriving."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = ""
        self.display = False

    def show(self, header: HeaderView) -> None:
        """Show the banner with its reason while `header.is_stale`, hide it otherwise."""
        text = ""
        if header.is_stale:
            reason = escape(header.stale_reason) if header.stale_reason else "no market data"
            text = f"⚠ STALE — {reason}"
        if text != self._text:
            self._text = text
            self.update(text)
            self.display = bool(text)
