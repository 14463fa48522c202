"""CasinoApp: the operator console. A view of `RuntimeControl.snapshot()` and a remote control for it."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Iterable

from rich.console import RenderableType
from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.widgets import DataTable

from casino_tui.control import RuntimeControl
from casino_tui.port import BreakerStatus
from casino_tui.screens import cells
from casino_tui.screens.commands import ConsoleCommands
from casino_tui.screens.confirm import ConfirmScreen, LiveGateScreen
from casino_tui.screens.console import ConsoleScreen
from casino_tui.screens.help import HelpScreen, help_sections
from casino_tui.screens.panes.logs import level_number
from casino_tui.screens.quit import QuitChoice, QuitScreen
from casino_tui.screens.reconcile import ReconcileScreen
from casino_tui.screens.sensor_detail import SensorDetailScreen
from casino_tui.screens.terminal import CleanExitDriver
from casino_tui.screens.trades import TradesScreen
from casino_tui.snapshot import LogLine, RuntimeSnapshot

log = logging.getLogger("casino.ui")

# More ERROR lines than this in one refresh are summarised in a single notification.
MAX_ERROR_TOASTS = 3
EXIT_REFUSED_LIVE = 2


def sweep_message(open_orders: int, open_positions: int) -> str:
    """Exactly what an emergency sweep will do, in the operator's words."""
    orders, positions = cells.count(open_orders, "open order"), cells.count(open_positions, "position")
    return f"Cancel {orders} and close {positions} with reduce-only market orders, then pause new entries."


class CasinoApp(App[None]):
    """The console; `live=False` starts no timers, so tests drive `refresh_from_snapshot()` themselves."""

    CSS_PATH = "screens/casino.tcss"
    TITLE = "casino-tui"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    # None of these is a priority binding: a modal screen (confirm, reconcile, quit) must swallow them.
    BINDINGS = [
        Binding(
            "p",
            "pause",
            "Pause",
            id="console.pause",
            tooltip="Toggle new entries; open brackets stay managed",
        ),
        Binding("p", "resume", "Resume", id="console.resume", tooltip="Allow new entries again"),
        Binding(
            "s",
            "sweep",
            "Sweep",
            id="console.sweep",
            tooltip="Cancel all orders, close all positions, pause",
        ),
        Binding("r", "reconcile", "Reconcile", id="console.reconcile", tooltip="Compare with the exchange"),
        Binding(
            "l",
            "cycle_log_level",
            "Log level",
            id="console.log_level",
            tooltip="Cycle ALL/INFO/WARNING/ERROR",
        ),
        Binding(
            "f",
            "follow_logs",
            "Follow logs",
            show=False,
            id="console.follow_logs",
            tooltip="Logs back to the newest line after scrolling up",
        ),
        # Not in the footer, which must keep q at 80 columns: help and the command palette list it.
        Binding(
            "t",
            "trades",
            "Trades",
            show=False,
            id="console.trades",
            tooltip="Closed trades, totals and the equity curve",
        ),
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            show=False,  # the footer has no room at 80 columns; help lists it (it has a tooltip)
            id="console.filter",
            tooltip="Show only symbols containing the typed text (Esc clears)",
        ),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="console.clear_filter"),
        Binding(
            "question_mark", "help", "Help", key_display="?", id="console.help", tooltip="List every key"
        ),
        Binding(
            "q",
            "quit_console",
            "Quit",
            id="console.quit",
            tooltip="Quit; asks what to do with open positions",
        ),
        Binding("ctrl+c", "quit_console", "Quit", show=False, id="console.ctrl_c"),
        Binding("ctrl+q", "quit_console", "Quit", show=False, id="console.ctrl_q"),
    ]

    def __init__(
        self,
        control: RuntimeControl,
        *,
        live: bool = True,
        refresh_hz: float = 4.0,
        theme: str = "textual-dark",
        confirm_live: str | None = None,
    ) -> None:
        super().__init__()
        self.control = control
        self.live = live
        self.refresh_hz = refresh_hz
        self.confirm_live = confirm_live
        # Pinned, so TEXTUAL_THEME or a user's setting cannot change what the console (and its snapshots) look like.
        self.theme = theme
        self.console_screen = ConsoleScreen()
        self.last_snapshot: RuntimeSnapshot | None = None
        self._notified_seq = -1
        self._breaker_states: dict[str, BreakerStatus] = {}
        self._shown_paused: bool | None = None
        self._is_sweeping = False
        self._is_refresh_failing = False
        self._is_ready = False
        self._is_heap_frozen = False
        self._timer: Timer | None = None
        self._signals: list[int] = []  # the signals whose handlers this app installed (and removes)

    @property
    def installed_signals(self) -> tuple[int, ...]:
        """Signals (SIGTERM, SIGHUP) this app handles with an orderly stop while it runs live."""
        return tuple(self._signals)

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver for this terminal, made to leave no copy of the console behind on exit."""
        driver = super().get_driver_class()
        return CleanExitDriver if driver is LinuxDriver else driver

    def get_default_screen(self) -> ConsoleScreen:
        return self.console_screen

    @property
    def is_console_ready(self) -> bool:
        """True once the console's widgets exist, so `refresh_from_snapshot()` can run."""
        return self._is_ready

    def on_ready(self) -> None:
        # Ready, not Mount: the console's widgets exist only once the first screen is composed.
        self._is_ready = True
        if self.live:
            self._install_signal_handlers()  # before the live gate: SIGTERM while it waits must not kill us raw
        self._start()  # the screen is alive behind the gate: the runtime streams market data meanwhile
        if self.confirm_live:
            # The runtime trades only after `confirm_live()`, which only the typed phrase sends.
            self.push_screen(LiveGateScreen(self.confirm_live), self._live_gate_answered)

    def exit(self, result: None = None, return_code: int = 0, message: RenderableType | None = None) -> None:
        """Stop the refresh timer first: a tick during teardown would find the panes already gone."""
        self._stop_timer()
        super().exit(result, return_code, message)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def on_unmount(self) -> None:
        self._stop_timer()
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)
        self._signals.clear()

    def _live_gate_answered(self, is_confirmed: bool | None) -> None:
        if not is_confirmed:
            self.exit(return_code=EXIT_REFUSED_LIVE, message="Live trading not confirmed.")
            return
        self.control.confirm_live()

    def _start(self) -> None:
        if not self.live:
            return
        self.refresh_from_snapshot()
        self._timer = self.set_interval(1 / self.refresh_hz, self._tick, name="snapshot")

    def _install_signal_handlers(self) -> None:
        """Textual leaves SIGTERM/SIGHUP to the default action, which kills us with the terminal raw."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
                continue
            self._signals.append(signum)

    def _on_signal(self, signum: int) -> None:
        log.warning("signal %s: stopping", signal.Signals(signum).name)
        self.control.request_stop(sweep=None)
        self.exit(return_code=128 + signum)

    # -- the feed: one snapshot in, a diff out -----------------------------------------------------------

    def _tick(self) -> None:
        """A timed refresh. A failing snapshot must not take the console (and the operator's keys) down."""
        try:
            self.refresh_from_snapshot()
        except Exception as exc:
            if not self._is_refresh_failing:
                log.exception("console refresh failed")
                self.notify(f"Console refresh failed: {exc}", severity="error", markup=False, timeout=30)
            self._is_refresh_failing = True
        else:
            self._is_refresh_failing = False

    def refresh_from_snapshot(self) -> None:
        """Read `control.snapshot()` once and update every widget in one batch."""
        snapshot = self.control.snapshot()
        self.last_snapshot = snapshot
        if self.live and not self._is_heap_frozen and snapshot.header.status.is_ready:
            # What start-up built (history, sensors, widgets) lives as long as the session: a full collection
            # that scans it all stalls the loop (~40 ms at 50 symbols) while the console redraws.
            gc.freeze()
            self._is_heap_frozen = True
        with self.batch_update():
            new_lines = self.console_screen.show(snapshot)
        self._announce(snapshot, new_lines)
        is_paused = self.control.is_paused
        if is_paused != self._shown_paused:
            self._shown_paused = is_paused
            self.refresh_bindings()

    def _announce(self, snapshot: RuntimeSnapshot, new_lines: Iterable[LogLine]) -> None:
        """Notify rare events once: ERROR log lines (by seq) and breakers that have just opened."""
        errors = [
            line for line in new_lines if line.seq > self._notified_seq and level_number(line.level) >= 40
        ]
        if errors:
            self._notified_seq = errors[-1].seq
            for line in errors[:MAX_ERROR_TOASTS]:
                where = f" {line.symbol}" if line.symbol else ""
                self.notify(line.message, title=f"{line.component}{where}", severity="error", markup=False)
            if len(errors) > MAX_ERROR_TOASTS:
                more = len(errors) - MAX_ERROR_TOASTS
                self.notify(f"{more} more error(s): see Logs.", severity="error", markup=False)
        for breaker in snapshot.breakers:
            previous = self._breaker_states.get(breaker.name)
            if breaker.state is BreakerStatus.OPEN and previous is not BreakerStatus.OPEN:
                reason = f": {breaker.reason}" if breaker.reason else ""
                self.notify(f"Breaker {breaker.name} OPEN{reason}", severity="error", markup=False)
            self._breaker_states[breaker.name] = breaker.state

    # -- commands ------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":  # otherwise Esc is left to whatever else wants it
            return self._is_ready and self.console_screen.filter_bar.display
        if action == "pause":
            return not self.control.is_paused
        if action == "resume":
            return self.control.is_paused
        return True

    def _after_command(self) -> None:
        self.refresh_bindings()
        self.refresh_from_snapshot()

    def action_pause(self) -> None:
        self.control.pause()
        self.notify("Paused: no new entries. Open brackets stay managed.", title="Pause")
        self._after_command()

    def action_resume(self) -> None:
        self.control.resume()
        self.notify("Resumed: new entries allowed.", title="Resume")
        self._after_command()

    def action_sweep(self) -> None:
        if self._is_sweeping:
            self.notify("A sweep is already running.", severity="warning")
            return
        header = self.control.snapshot().header
        message = sweep_message(header.open_orders, header.open_positions)
        self.push_screen(ConfirmScreen("Emergency sweep", message, yes_label="Sweep"), self._sweep_answered)

    def _sweep_answered(self, is_confirmed: bool | None) -> None:
        if is_confirmed:
            self._is_sweeping = True  # before the worker starts, so a second `s` cannot slip in between
            self.run_sweep()

    # Not exclusive: a second worker in the group must never cancel a sweep halfway through.
    @work(group="sweep", exit_on_error=False)
    async def run_sweep(self) -> None:
        """Await the runtime's sweep, then say what it did (and what is left, if anything)."""
        self._is_sweeping = True
        try:
            self.notify(
                "Sweeping: cancelling orders and closing positions…", title="Sweep", severity="warning"
            )
            result = await self.control.sweep()
        except Exception as exc:  # the operator sees one line; the log keeps the traceback
            log.exception("sweep failed")
            self.notify(f"Sweep failed: {exc}", title="Sweep", severity="error", markup=False, timeout=30)
            return
        finally:
            self._is_sweeping = False
            await self._retire_stale_quit_screen()
        message = result.message
        if result.remaining_positions:
            message += f" Still open: {', '.join(result.remaining_positions)}."
        severity: SeverityLevel = "information" if result.is_flat else "error"
        self.notify(message, title="Sweep", severity=severity, markup=False, timeout=15)
        self._after_command()

    async def _retire_stale_quit_screen(self) -> None:
        """A quit screen that says "a sweep is running" is untrue once the sweep ends: ask again, truthfully."""
        screen = self.screen
        if isinstance(screen, QuitScreen) and screen.is_sweeping:
            await screen.dismiss(None)
            if self.control.open_position_count > 0:
                self.action_quit_console()
            else:
                question = ConfirmScreen(
                    "Quit", "The sweep has ended with no open position. Quit now?", danger=False
                )
                self.push_screen(question, lambda yes: self._stop(sweep=None) if yes else None)

    def action_reconcile(self) -> None:
        self.push_screen(ReconcileScreen(self.control, on_applied=self.refresh_from_snapshot))

    def action_trades(self) -> None:
        self.push_screen(TradesScreen(self.control))

    def action_cycle_log_level(self) -> None:
        self.console_screen.logs.cycle_filter()

    def action_follow_logs(self) -> None:
        self.console_screen.logs.follow()

    def action_filter(self) -> None:
        self.console_screen.open_filter()

    def action_clear_filter(self) -> None:
        self.console_screen.clear_filter()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_sections(self.BINDINGS)))

    @on(DataTable.RowSelected, "#consensus-table")
    def _consensus_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.show_sensor_detail(event.row_key.value)

    def action_sensor_detail(self) -> None:
        table = self.console_screen.consensus.table
        if not table.row_count:
            self.notify("No symbol to show yet.", severity="warning")
            return
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        if row_key.value is not None:
            self.show_sensor_detail(row_key.value)

    def show_sensor_detail(self, symbol: str) -> None:
        """Open the modal listing every sensor's vote on `symbol`."""
        self.push_screen(SensorDetailScreen(symbol, self.control.sensor_detail(symbol)))

    def action_quit_console(self) -> None:
        open_positions = self.control.open_position_count
        if self._is_sweeping:
            # Whatever is chosen, the runtime finishes the sweep before the process exits.
            self.push_screen(QuitScreen(open_positions, is_sweeping=True), self._quit_answered)
        elif open_positions > 0:
            self.push_screen(QuitScreen(open_positions), self._quit_answered)
        else:
            self._stop(sweep=None)

    async def action_quit(self) -> None:
        """Textual's own quit (system command palette entry) takes the console's quit path too."""
        self.action_quit_console()

    def _quit_answered(self, choice: QuitChoice | None) -> None:
        if choice is QuitChoice.KEEP:
            self._stop(sweep=False)
        elif choice is QuitChoice.SWEEP:
            self._stop(sweep=True)

    def _stop(self, sweep: bool | None) -> None:
        self.control.request_stop(sweep=sweep)
        self.exit()
