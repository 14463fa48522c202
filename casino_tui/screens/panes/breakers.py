"""The Breakers pane: circuit breakers per endpoint group and rate-limit headroom."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from casino_tui.port import BreakerState, BreakerStatus
from casino_tui.screens import cells
from casino_tui.screens.panes.table import Column, KeyedTable
from casino_tui.screens.redraw import Subtitle, update_static
from casino_tui.snapshot import LimitView

COLUMNS = (
    Column("name", "Breaker", 11),
    Column("state", "State", 11),
    Column("failures", "Fail", 4, "right"),
    Column("cooldown", "Cool", 5, "right", drop_rank=2),
    Column("reason", "Reason", 14, drop_rank=1, stretch=True),
)

STATE_MARKS = {
    BreakerStatus.CLOSED: ("●", cells.GREEN),
    BreakerStatus.HALF_OPEN: ("◐", cells.YELLOW),
    BreakerStatus.OPEN: ("✖", cells.RED),
}


def state_markup(state: BreakerStatus) -> str:
    """A breaker state with its mark and colour: ● CLOSED, ◐ HALF_OPEN, ✖ OPEN."""
    mark, colour = STATE_MARKS[state]
    return f"[{colour}]{mark} {escape(state.value)}[/]"


def breaker_cells(breaker: BreakerState) -> tuple[str, ...]:
    """Markup for every column of one breaker."""
    return (
        escape(breaker.name),
        state_markup(breaker.state),
        f"[{cells.DIM}]0[/]" if not breaker.failures else f"[{cells.YELLOW}]{breaker.failures}[/]",
        cells.age(breaker.cooldown_s) if breaker.cooldown_s > 0 else cells.NOTHING,
        escape(breaker.reason) if breaker.reason else cells.NOTHING,
    )


def hidden_details_markup(breakers: tuple[BreakerState, ...], shown_columns: tuple[str, ...]) -> str:
    """Reason and cooldown of each breaker that is not CLOSED, for when the table is too narrow for them."""
    lines = []
    for breaker in breakers:
        if breaker.state is BreakerStatus.CLOSED:
            continue
        parts = []
        if breaker.reason and "reason" not in shown_columns:
            parts.append(escape(breaker.reason))
        if breaker.cooldown_s > 0 and "cooldown" not in shown_columns:
            parts.append(f"retry in {cells.age(breaker.cooldown_s)}")
        if parts:
            mark, colour = STATE_MARKS[breaker.state]
            lines.append(f"[{colour}]{mark}[/] {escape(breaker.name)}: {' · '.join(parts)}")
    return "\n".join(lines)


def limits_markup(limits: LimitView) -> str:
    """Rate-limit weight and order counts against their limits, with percentages (two lines)."""
    weight = (
        f"Weight 1m  {limits.used_weight_1m}/{limits.weight_limit_1m} "
        f"{cells.headroom(limits.used_weight_1m, limits.weight_limit_1m)}"
    )
    orders = (
        f"Orders 10s {limits.order_count_10s}/{limits.order_limit_10s} "
        f"{cells.headroom(limits.order_count_10s, limits.order_limit_10s)}  "
        f"1m {limits.order_count_1m}/{limits.order_limit_1m} "
        f"{cells.headroom(limits.order_count_1m, limits.order_limit_1m)}"
    )
    return f"{weight}\n{orders}"


def folded_markup(breakers: tuple[BreakerState, ...], limits: LimitView) -> str:
    """For small terminals: a mark per breaker, then weight and order headroom, on one line; below it, one
    line with the reason and cooldown of each breaker that is not CLOSED."""
    parts = []
    for breaker in breakers:
        mark, colour = STATE_MARKS[breaker.state]
        extra = (
            f" {breaker.failures}✗" if breaker.failures and breaker.state is not BreakerStatus.CLOSED else ""
        )
        parts.append(f"[{colour}]{mark}[/] {escape(breaker.name)}{extra}")
    head = "  ".join(parts) if parts else f"[{cells.DIM}]no breakers[/]"
    line = (
        f"{head} │ wt {cells.headroom(limits.used_weight_1m, limits.weight_limit_1m)}"
        f" ord {cells.headroom(limits.order_count_10s, limits.order_limit_10s)}"
        f"/{cells.headroom(limits.order_count_1m, limits.order_limit_1m)}"
    )
    details = hidden_details_markup(breakers, shown_columns=())
    return f"{line}\n{details}" if details else line


class BreakersPane(Vertical):
    """A table of breakers plus a limits footer; on small screens the CSS folds both into one line.

    When the table is too narrow for the reason and cooldown columns, they appear under it instead.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self._subtitle = Subtitle(self)
        self.border_title = "Breakers"
        self._texts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="breakers-table")
        yield Static(id="breakers-details", markup=True)
        yield Static(id="breakers-limits", markup=True)
        yield Static(id="breakers-folded", markup=True)

    @property
    def table(self) -> KeyedTable:
        return self.query_one(KeyedTable)

    def show(self, breakers: tuple[BreakerState, ...], limits: LimitView) -> None:
        """Diff the table and rewrite the limit lines when their text changed."""
        self.table.sync((breaker.name, breaker_cells(breaker)) for breaker in breakers)
        details = hidden_details_markup(breakers, self.table.shown_columns)
        self._set_text("breakers-details", details)
        self.query_one("#breakers-details").set_class(
            not details, "-empty"
        )  # CSS, not display=: -narrow hides it too
        self._set_text("breakers-limits", limits_markup(limits))
        self._set_text("breakers-folded", folded_markup(breakers, limits))
        not_closed = sum(1 for breaker in breakers if breaker.state is not BreakerStatus.CLOSED)
        self._subtitle.show(
            f"[bold {cells.RED}]{not_closed} not closed[/]"
            if not_closed
            else (f"all {len(breakers)} closed" if breakers else "no breakers (simulated exchange)")
        )

    def _set_text(self, widget_id: str, text: str) -> None:
        previous = self._texts.get(widget_id)
        if previous != text:
            self._texts[widget_id] = text
            update_static(self.query_one(f"#{widget_id}", Static), text, previous)
