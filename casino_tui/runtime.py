"""Runtime: runs the parts of one session (built by `casino_tui.wiring`) on one asyncio loop, and is the only
object the console and the headless runner talk to (operator commands and `snapshot()`).

Startup: rules → recovered state → history → sensors warm → [LIVE: market data only, until `confirm_live()`]
→ streams → recovery with the exchange (safe policy) → RUNNING. A stop requested during start-up ends it at
the next phase. Shutdown: stop inputs → the running sweep (or one asked for) to its end, up to the deadline
→ exit check (missing stops put back, verified with the exchange) → final balance → report → disconnect →
save.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import partial
from pathlib import Path
from typing import TypeVar

from casino_tui.clock import Clock
from casino_tui.config import Config
from casino_tui.control import ReconcileReport, SweepResult
from casino_tui.decisions import WARMUP_CANDLES, load_history
from casino_tui.engine import retries
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.exitcheck import ExitCheck, announce_exit, secure_exit, unprotected_lines
from casino_tui.engine.journal import JournalError
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.engine.metrics_server import MetricsError, MetricsServer
from casino_tui.engine.reconcile import reconcile
from casino_tui.engine.recovery import Restored, recover_with_exchange
from casino_tui.engine.report import SweepOutcome
from casino_tui.engine.retries import StopWhileWaiting, past_open_breakers
from casino_tui.engine.state import PersistedState, capture_state
from casino_tui.exchange.replay.recorder import MarketRecorder, RecordingSink
from casino_tui.exchange.sim.paper import PaperAccountError
from casino_tui.healing import RESYNC, HealingJob
from casino_tui.lifecycle import Lifecycle, RuntimeStatus
from casino_tui.model import TIMEFRAMES, AccountUpdate, JournalKind, OrderUpdate, SymbolRules, TradingMode
from casino_tui.paths import StatePaths
from casino_tui.port import AuthError, Exchange, MarketSink
from casino_tui.progress import StartupPhase, StartupProgress
from casino_tui.sensors.manager import SensorManager
from casino_tui.sensors.ray_executor import RayUnavailable
from casino_tui.snapshot import RuntimeSnapshot, SensorVoteRow, TradeHistory
from casino_tui.startup import LiveGate, StartupError, checked_rules
from casino_tui.storage import SnapshotError
from casino_tui.sweeping import SweepCommand
from casino_tui.wiring import Parts, UserEvents, build_croupier, build_exchange, default_clock, trading_mode

__all__ = ["Runtime", "StartupError"]

log = logging.getLogger("casino.runtime")

T = TypeVar("T")


class Runtime:
    """Owns the parts of one session and their lifecycle. See the module docstring for the order of things."""

    def __init__(
        self,
        config: Config,
        *,
        paths: StatePaths | None = None,
        exchange: Exchange | None = None,
        clock: Clock | None = None,
        log_setup: LogSetup | None = None,
        use_timers: bool = True,
    ) -> None:
        self.config = config
        self.symbols = list(config.symbols)
        self.clock = clock or default_clock(config, paths)
        self.exchange = exchange or build_exchange(config, self.clock)
        if log_setup is not None:
            log_setup.use_clock(self.clock.now_ms)  # logs show the header's time, sim time on the sim
            # Exact values too, not only the patterns: a key or secret quoted in any message is hidden.
            self.exchange.share_secrets(log_setup.redactor.add_secret)
        parts = Parts(config, paths, self.clock, self.exchange, log_setup, self._entry_refusal)
        self.stats, self.engine, self.decisions = parts.stats, parts.engine, parts.decisions
        self.heartbeat, self.persistence, self.readout = parts.heartbeat, parts.persistence, parts.readout
        self.trades = parts.trades
        self.croupier: Croupier | None = None  # built once trading may start
        self._user_events = UserEvents(self.on_order_update, self.on_account_update)
        self.sweeps = SweepCommand(self._sweep_now, self._sweep_refusal)
        self.use_timers = use_timers
        self.mode = trading_mode(config)
        self.lifecycle = Lifecycle()
        self._paused = False
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        # LIVE needs the operator's explicit go-ahead (typed in the console, a flag headless) before trading.
        self.live_gate = LiveGate(is_open=self.mode is not TradingMode.LIVE)
        self._errors = 0
        self.report_path: Path | None = None
        self.exit_check: ExitCheck | None = None
        self.exit_code = 0  # set by shutdown: see casino_tui.engine.report
        self.recovered_brackets = 0
        # After a gap (reconnect, breaker back) the exchange re-reads the account; reconcile follows it.
        self.resync = HealingJob("reconcile after a gap", self._reconcile_after_gap, max_wait_s=10.0)
        self.metrics = MetricsServer(config.metrics, self) if config.metrics.enabled else None
        self.recorder: MarketRecorder | None = None  # `--record PATH`: the market stream, for replays
        self.rules: dict[str, SymbolRules] = {}  # the symbols' rules, once start-up has checked them
        self.progress = StartupProgress()

    @property
    def status(self) -> RuntimeStatus:
        return self.lifecycle.status

    @property
    def sensors(self) -> SensorManager | None:
        return self.decisions.sensors

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Everything up to RUNNING. Raises StartupError for problems the operator must fix."""
        if self.metrics is not None:
            try:
                await self.metrics.start()  # first: start-up itself is worth watching
            except MetricsError as exc:
                raise StartupError(str(exc)) from None
        rules = self.rules = await checked_rules(self.exchange, self.symbols)
        if self.is_stopping:
            return
        try:
            restored = self.persistence.recover()
        except (JournalError, SnapshotError, PaperAccountError) as exc:
            raise StartupError(str(exc)) from None
        self._paused = restored.paused
        self.recovered_brackets = len(restored.active)
        log.info(
            "loading %d candles of history per timeframe for %d symbols", WARMUP_CANDLES, len(self.symbols)
        )
        self.progress.enter(StartupPhase.LOADING_HISTORY, total=len(TIMEFRAMES) * len(self.symbols))
        now_ms = self.clock.now_ms()
        history = await load_history(self.exchange, self.symbols, now_ms, self.progress.step)
        if self.is_stopping:
            return
        self.engine.seed(history["1m"])
        self.progress.enter(StartupPhase.WARMING_SENSORS)
        try:
            await self.decisions.warm(history)
        except RayUnavailable as exc:
            raise StartupError(str(exc)) from None
        self.progress.enter(StartupPhase.DONE)  # LIVE waits for the operator here, and says so itself
        if not await self._cleared_to_trade():
            return
        journal = self.persistence.journal
        self.croupier = build_croupier(
            self.config, self.exchange, self.clock, rules, journal, restored, self.trades
        )
        if self.metrics is not None:
            self.metrics.watch(self.croupier.executor)
        self.decisions.start_trading(self.croupier, restored.weights)
        try:
            if not await self._connect_and_recover(self.croupier, restored):
                return
        except AuthError as exc:
            raise StartupError(f"{self.exchange.name} refused the API key: {exc}") from None
        self.progress.enter(StartupPhase.DONE)
        self.lifecycle.move(RuntimeStatus.PAUSED if self._paused else RuntimeStatus.RUNNING)
        if self.use_timers:
            self.heartbeat.start()
            self.persistence.start_saving(self.config.runtime.snapshot_interval_s, self.persisted_state)
        log.info(
            "ready: %s, %d symbols, %d sensors, balance %.2f USDT, clock %s",
            self.exchange.name,
            len(self.symbols),
            len(self.sensors.sensor_names) if self.sensors is not None else 0,
            self.readout.balance.wallet,
            self.clock.label,
        )

    async def _connect_and_recover(self, croupier: Croupier, restored: Restored) -> bool:
        """Streams and account, the balance, then recovery with the exchange; False if a stop came first.

        A breaker the last run left OPEN stays open for the rest of its cooldown (a restart must not hammer an
        endpoint group it had backed off from): each step waits it out, and says so.
        """
        self.exchange.reopen_breakers(restored.breakers)
        self.exchange.set_sinks(self._market_sink(), self._user_events)
        health, stopping = self.exchange.health, self._stop_requested
        self.progress.enter(StartupPhase.CONNECTING)
        try:
            await past_open_breakers(
                lambda: self.exchange.start(self.symbols), health, stopping, what="connecting"
            )
            read_balance = partial(retries.read, self.exchange.balance)
            balance = await past_open_breakers(read_balance, health, stopping, what="reading the balance")
            self.readout.balance = balance
            self.readout.start_balance = balance.wallet
            self.trades.anchor(balance.wallet)
            self.lifecycle.move(RuntimeStatus.RECOVERING)
            self.progress.enter(StartupPhase.RECOVERING)
            journal, after = self.persistence.journal, restored.journal_seq
            recovered = await recover_with_exchange(
                self.exchange, croupier, self.clock, journal, after_seq=after, stopping=stopping
            )
        except StopWhileWaiting:
            return False
        if not recovered:
            self._errors += 1
        return True

    async def _cleared_to_trade(self) -> bool:
        """False if a stop came first. In LIVE mode, waits for `confirm_live()` while only market data
        streams: no order, no listenKey, no reconcile until the operator has said yes."""
        if self.live_gate.is_open or self.is_stopping:
            return not self.is_stopping
        self.exchange.set_sinks(self._market_sink(), self._user_events)
        await self.exchange.start_market(self.symbols)
        if self.use_timers:
            self.heartbeat.start()
        self.lifecycle.move(RuntimeStatus.UNCONFIRMED)
        log.warning("LIVE: waiting for the operator's confirmation; nothing trades until then")
        if not await self.live_gate.wait(self._stop_requested):
            return False
        self.lifecycle.move(RuntimeStatus.STARTING)
        log.warning("LIVE trading confirmed by the operator")
        return True

    def confirm_live(self) -> None:
        """The operator's go-ahead for LIVE trading (the typed phrase, or headless `--confirm-live`)."""
        self.live_gate.open()

    @property
    def is_live_confirmed(self) -> bool:
        return self.live_gate.is_open

    @property
    def is_stopping(self) -> bool:
        """A stop has been requested (start-up checks this between phases)."""
        return self._stop_requested.is_set()

    async def run(self) -> None:
        """Start, run until `request_stop()`, then the orderly shutdown (which always runs)."""
        try:
            await self.start()
            await self._stop_requested.wait()
        finally:
            await self.shutdown()

    def request_stop(self, sweep: bool | None = None) -> None:
        """Begin the orderly shutdown. A sweep asked for once stays asked for: a later stop (SIGTERM, the
        console's own exit) cannot turn it into "keep"."""
        self.sweeps.ask_at_stop(sweep)
        self._stop_requested.set()

    async def shutdown(self) -> None:
        """The orderly shutdown (see the module docstring); a second call waits for the first to finish."""
        if self.status in (RuntimeStatus.STOPPING, RuntimeStatus.STOPPED):
            await self._stopped.wait()
            return
        self.lifecycle.move(RuntimeStatus.STOPPING)
        try:
            await self._shut_down()
        finally:
            if self.metrics is not None:
                await self.metrics.stop()
            self._stopped.set()
        self.lifecycle.move(RuntimeStatus.STOPPED)
        log.info("stopped")

    async def _shut_down(self) -> None:
        unprotected: list[str] = []  # positions left without a stop-loss the exchange confirmed
        await self.resync.stop()
        await self.heartbeat.stop()
        await self.persistence.stop_saving()
        if self.croupier is not None:
            await self.decisions.finish_entries()
            deadline = self.config.runtime.sweep_deadline_s
            by_default = self.config.runtime.on_shutdown == "sweep"
            await self.sweeps.finish(by_default=by_default, deadline_s=deadline)
            self.exit_check = await secure_exit(
                self.croupier, self.clock, deadline_s=deadline, journal=self.persistence.journal
            )
            unprotected = unprotected_lines(self.exit_check, self.croupier.book.active)
            announce_exit(self.exit_check, unprotected)
        try:
            self.readout.balance = await self.exchange.balance()
        except Exception as exc:  # the report still gets written with the last known balance
            log.warning("final balance unavailable: %s", exc)
        self.report_path, self.exit_code = self._write_report(tuple(unprotected))
        await self._safe(self.decisions.stop())
        await self._safe(self.exchange.stop())
        if self.recorder is not None:
            self.recorder.close()
        self.save_state()
        self.persistence.close()

    def _write_report(self, unprotected: tuple[str, ...]) -> tuple[Path | None, int]:
        """The session report (a replay writes its own instead): its path, None if not written, and the exit
        code it implies. Called by the shutdown once the final balance is known."""
        paths = self.persistence.paths
        return self.readout.write_report(
            paths.reports if paths is not None else None,
            self.snapshot().counters,
            self.mode,
            exit_check=self.exit_check,
            unprotected=unprotected,
            open_positions=self.open_position_count,
            sweep=self.sweep_outcome,
        )

    async def _safe(self, work: Awaitable[T]) -> T | None:
        try:
            return await work
        except Exception:
            self._errors += 1
            log.exception("error during shutdown")
            return None

    # ----------------------------------------------------------------- events and the timer

    def _market_sink(self) -> MarketSink:
        """The engine, behind the recorder when `runtime.record` names a file."""
        if not self.config.runtime.record:
            return self.engine
        if self.recorder is None:
            path = Path(self.config.runtime.record)
            try:
                self.recorder = MarketRecorder(
                    path,
                    exchange=self.exchange.name,
                    symbols=self.symbols,
                    rules=self.rules,
                    started_ms=self.clock.now_ms(),
                )
            except OSError as exc:
                raise StartupError(f"--record: cannot write {path}: {exc.strerror}") from None
        return RecordingSink(self.engine, self.recorder)

    def _entry_refusal(self) -> str:
        """Why a decision may not open a bracket now ("" when it may)."""
        if self._paused:
            return "paused"
        return "" if self.status is RuntimeStatus.RUNNING else self.status.lower()

    def on_order_update(self, update: OrderUpdate) -> None:
        if self.croupier is not None:
            try:
                self.croupier.on_order_update(update)
            except Exception:
                self._errors += 1
                log.exception("order update handling failed", extra={"symbol": update.symbol})

    def on_account_update(self, update: AccountUpdate) -> None:
        self.readout.take_balances(update.balances)
        if self.croupier is not None:
            self.croupier.on_account_update(update)
            if update.reason == RESYNC and self.status.is_ready:
                self.resync.request("the exchange re-read the account after a gap")

    async def _reconcile_after_gap(self) -> None:
        """Reconcile (safe policy) against the exchange; ExchangeError (it cannot be read yet) is retried."""
        assert self.croupier is not None
        journal = self.persistence.journal
        report = await reconcile(self.exchange, self.croupier, self.clock, apply=True, journal=journal)
        log.info("reconcile after a gap: %d differences handled", len(report.items))

    def tick(self) -> None:
        """One timer step (tests driving a ManualClock call it themselves)."""
        self.heartbeat.tick()

    async def advance(self, ms: int, step_ms: int = 1000) -> None:
        """Move a ManualClock forward in steps, pumping the sim and settling all work (tests, replays)."""
        await self.heartbeat.advance(ms, step_ms)

    async def settle(self) -> None:
        """Wait until sensors, decisions and order handling in flight are done."""
        await self.decisions.settle()

    # ----------------------------------------------------------------- operator commands

    @property
    def is_paused(self) -> bool:
        return self._paused

    @property
    def open_position_count(self) -> int:
        return self.croupier.open_count if self.croupier is not None else 0

    def pause(self) -> None:
        if not self._paused:
            self._paused = True
            if self.status is RuntimeStatus.RUNNING:
                self.lifecycle.move(RuntimeStatus.PAUSED)
            said = "paused: no new entries; open brackets stay managed"
            self.persistence.record_then_say(JournalKind.PAUSE, {"paused": True}, said)

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            if self.status is RuntimeStatus.PAUSED:
                self.lifecycle.move(RuntimeStatus.RUNNING)
            self.persistence.record_then_say(
                JournalKind.PAUSE, {"paused": False}, "resumed: new entries allowed"
            )

    def toggle_pause(self) -> None:
        self.resume() if self._paused else self.pause()

    @property
    def is_sweeping(self) -> bool:
        return self.sweeps.is_running

    def start_sweep(self) -> asyncio.Task[SweepResult] | None:
        """Begin an emergency sweep in the runtime's own task (or return the one running); None if refused.
        Nothing that stops a caller stops the sweep; shutdown waits for it."""
        return self.sweeps.start()

    async def sweep(self) -> SweepResult:
        """Emergency sweep: pause, close every position, cancel every order, until the exchange reads flat."""
        return await self.sweeps.run()

    def _sweep_refusal(self) -> str:
        if self.croupier is None or self.status in (RuntimeStatus.STARTING, RuntimeStatus.RECOVERING):
            return "the runtime is still starting"
        return ""

    async def _sweep_now(self) -> SweepResult:
        assert self.croupier is not None
        self.pause()
        self.persistence.record(JournalKind.COMMAND, {"command": "sweep"})
        log.warning("EMERGENCY SWEEP started")
        return await self.croupier.sweep()

    @property
    def sweep_outcome(self) -> SweepOutcome:
        """How the session's last sweep ended."""
        return self.sweeps.outcome

    async def reconcile(self, apply: bool = False) -> ReconcileReport:
        if self.croupier is None:
            raise RuntimeError("not started")
        if apply:
            self.persistence.record(JournalKind.COMMAND, {"command": "reconcile"})
        journal = self.persistence.journal
        return await reconcile(self.exchange, self.croupier, self.clock, apply=apply, journal=journal)

    # ----------------------------------------------------------------- saving

    def persisted_state(self) -> PersistedState:
        assert self.croupier is not None
        player, journal = self.decisions.player, self.persistence.journal
        return capture_state(
            self.croupier, player, self.exchange, journal, now_ms=self.clock.now_ms(), paused=self._paused
        )

    def save_state(self) -> None:
        if self.croupier is not None:
            self.persistence.save(self.persisted_state())

    # ----------------------------------------------------------------- read side

    def snapshot(self) -> RuntimeSnapshot:
        errors = self._errors + self.sweeps.errors + self.persistence.errors
        return self.readout.snapshot(self.mode, self.status, self.croupier, errors, self.progress.text)

    def sensor_detail(self, symbol: str) -> tuple[SensorVoteRow, ...]:
        return self.decisions.detail(symbol)

    def trade_history(self) -> TradeHistory:
        """The closed trades (this run's and, with a state dir, the earlier runs'); cached per change."""
        return self.trades.view()
