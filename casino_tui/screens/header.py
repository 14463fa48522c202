"""The console's one-line header (mode, status, equity, PnL, positions, loop lag, clock) and STALE banner.

The clock is the runtime's, named as it is: `UTC` on the wall clock, `SIM 30×` on the simulated one.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.markup import escape
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


def metrics_markup(header: HeaderView) -> str:
    """Equity, PnL, open/max positions and loop lag, compact enough for 80 columns."""
    lag_colour = cells.RED if header.loop_lag_ms >= 100 else cells.YELLOW if header.loop_lag_ms >= 20 else ""
    lag = f"{header.loop_lag_ms:.1f}ms" if header.loop_lag_ms < 1000 else f"{header.loop_lag_ms / 1000:.1f}s"
    if lag_colour:
        lag = f"[{lag_colour}]{lag}[/]"
    full = header.open_positions >= header.max_positions > 0
    positions = f"{header.open_positions}/{header.max_positions}"
    if full:
        positions = f"[{cells.YELLOW}]{positions}[/]"
    return (
        f"[{cells.DIM}]Eq[/] {cells.money(header.equity)}  "
        f"[{cells.DIM}]PnL[/] {cells.signed_money(header.pnl)}  "
        f"[{cells.DIM}]Pos[/] {positions}  "
        f"[{cells.DIM}]Lag[/] {lag}"
    )


class HeaderBar(Horizontal):
    """Rewrites each part only when its text changed, so a steady header costs nothing per refresh."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._texts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="header-mode")
        yield Static(id="header-status")
        yield Static(id="header-metrics")
        yield Static(id="header-clock")

    def show(self, header: HeaderView) -> None:
        """Render one HeaderView."""
        mode, status = header.mode, header.status
        self._set("header-mode", escape(mode.value), MODE_CLASSES[mode], MODE_CLASSES.values())
        self._set(
            "header-status",
            f"{STATUS_MARKS[status]} {escape(status.value)}",
            STATUS_CLASSES[status],
            STATUS_CLASSES.values(),
        )
        # During start-up the figures are not yet true (Eq 0.00): the phase is what the operator needs.
        if header.progress:
            self._set("header-metrics", f"[{cells.ACCENT}]{escape(header.progress)}…[/]")
        else:
            self._set("header-metrics", metrics_markup(header))
        self._set("header-clock", f"{cells.utc_clock(header.clock_ms)} {escape(header.clock_label)}")

    def _set(self, widget_id: str, text: str, css_class: str = "", classes: Iterable[str] = ()) -> None:
        previous = self._texts.get(widget_id)
        if previous == text:
            return
        self._texts[widget_id] = text
        widget = self.query_one(f"#{widget_id}", Static)
        update_static(widget, text, previous)
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
