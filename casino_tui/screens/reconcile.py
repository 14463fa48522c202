"""The reconcile screen: the exchange's truth beside local state, one proposed action per difference."""

from __future__ import annotations

import logging
from collections.abc import Callable

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from casino_tui.control import ReconcileItem, ReconcileReport, RuntimeControl
from casino_tui.model import ReconcileAction
from casino_tui.screens import cells
from casino_tui.screens.panes.table import Column, KeyedTable

log = logging.getLogger("casino.ui")

ACTION_COLOURS = {
    ReconcileAction.PROTECT: cells.RED,
    ReconcileAction.ADOPT: cells.YELLOW,
    ReconcileAction.CANCEL: cells.YELLOW,
    ReconcileAction.MARK_CLOSED: cells.DIM,
}

COLUMNS = (
    Column("kind", "Kind", 16),
    Column("symbol", "Symbol", 9),
    Column("local", "Local", 18, drop_rank=1),
    Column("exchange", "Exchange", 16, stretch=True),
    Column("action", "Action", 11),
)


def item_cells(item: ReconcileItem) -> tuple[str, ...]:
    """Markup for one difference; the proposed action is coloured by how urgent it is."""
    action = f"[bold {ACTION_COLOURS[item.action]}]{escape(item.action.value)}[/]"
    return (
        escape(item.kind.value),
        f"[bold]{escape(item.symbol)}[/]",
        escape(item.local),
        escape(item.exchange),
        action,
    )


def summary_markup(report: ReconcileReport, clock_label: str = "UTC") -> str:
    """What the exchange holds, in one line; the time is on the runtime clock, named as the header names it."""
    return (
        f"Exchange: {cells.count(report.positions, 'position')} · {cells.count(report.open_orders, 'open order')} · "
        f"{cells.count(report.open_conditional_orders, 'conditional order')} · "
        f"balance {cells.money(report.balance)} · "
        f"checked {cells.utc_clock(report.ts_ms)} {escape(clock_label)}"
    )


class ReconcileScreen(ModalScreen[None]):
    """Runs `reconcile(apply=False)` on open; `a` applies the proposed actions, then checks again."""

    BINDINGS = [
        Binding(
            "a", "apply", "Apply actions", id="reconcile.apply", tooltip="Carry out every proposed action"
        ),
        Binding(
            "r", "recheck", "Check again", id="reconcile.recheck", tooltip="Compare with the exchange again"
        ),
        Binding("escape", "close", "Close", id="reconcile.close", tooltip="Back to the console"),
    ]

    def __init__(self, control: RuntimeControl, *, on_applied: Callable[[], None] | None = None) -> None:
        super().__init__(classes="modal")
        self.control = control
        self.on_applied = on_applied
        self.report: ReconcileReport | None = None
        self.is_busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="reconcile-dialog", classes="dialog") as dialog:
            dialog.border_title = "Reconcile"
            yield Static("Comparing local state with the exchange…", id="reconcile-status")
            yield KeyedTable(COLUMNS, id="reconcile-table")
            yield Static("", id="reconcile-summary")
        yield Footer()

    def on_mount(self) -> None:
        self.check()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply":
            return not self.is_busy and self.report is not None and not self.report.is_clean
        if action == "recheck":
            return not self.is_busy
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_recheck(self) -> None:
        self.check()

    def action_apply(self) -> None:
        self.apply()

    @work(group="reconcile", exit_on_error=False)  # never exclusive: it would cancel an apply midway
    async def check(self) -> None:
        """Fetch the differences and show them."""
        self._set_busy(True, "Comparing local state with the exchange…")
        try:
            report = await self.control.reconcile(apply=False)
        except Exception as exc:  # one clear line for the operator; the log keeps the traceback
            log.exception("reconcile failed")
            self._set_busy(False, f"[{cells.RED}]Reconcile failed: {escape(str(exc))}[/]")
            return
        self._show(report)

    @work(group="reconcile", exit_on_error=False)  # never exclusive: it would cancel an apply midway
    async def apply(self) -> None:
        """Carry out the proposed actions, then compare again so the table shows what is left."""
        pending = len(self.report.items) if self.report else 0
        self._set_busy(True, f"Applying {cells.count(pending, 'action')}…")
        try:
            applied = await self.control.reconcile(apply=True)
            self.app.notify(
                f"Reconcile applied {cells.count(len(applied.items), 'action')}.", title="Reconcile"
            )
            report = await self.control.reconcile(apply=False)
        except Exception as exc:
            log.exception("reconcile apply failed")
            self._set_busy(False, f"[{cells.RED}]Apply failed: {escape(str(exc))}[/]")
            return
        if self.on_applied is not None:
            self.on_applied()
        self._show(report)

    def _set_busy(self, is_busy: bool, status: str) -> None:
        self.is_busy = is_busy
        self.query_one("#reconcile-status", Static).update(status)
        self.refresh_bindings()

    def _show(self, report: ReconcileReport) -> None:
        self.report = report
        table = self.query_one(KeyedTable)
        table.sync((f"{index}", item_cells(item)) for index, item in enumerate(report.items))
        table.display = not report.is_clean
        if report.is_clean:
            status = f"[{cells.GREEN}]✓ No differences: local state matches the exchange.[/]"
        else:
            found = cells.count(len(report.items), "difference")
            status = f"[{cells.YELLOW}]{found}[/] — press a to apply the proposed actions, esc to close"
        self._set_busy(False, status)
        self.query_one("#reconcile-summary", Static).update(
            summary_markup(report, self.control.snapshot().header.clock_label)
        )
