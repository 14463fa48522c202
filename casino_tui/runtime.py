"""Runtime: builds every component from the Config, runs them on one asyncio loop, and is the only object
the console and the headless runner talk to (operator commands and `snapshot()`).

Startup: rules → history → sensors warm → [LIVE: market data only, until `confirm_live()`] →
streams → reconcile (safe policy) → RUNNING. A stop requested during start-up ends it at the next phase.
Shutdown: stop inputs → (sweep if configured) → final balance → session report → disconnect → save.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from casino_tui.clock import Clock, ManualClock, SimClock, WallClock
from casino_tui.config import Config
from casino_tui.control import ReconcileReport, SweepResult
from casino_tui.engine import retries
from casino_tui.engine.brackets import Bracket, bracket_id
from casino_tui.engine.candles import CandleBook
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.engine import Engine
from casino_tui.engine.journal import BRACKET, COMMAND, INTENT, PAUSE, Journal, JournalError, open_journal
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.engine.player import AdaptivePlayer
from casino_tui.engine.report import SessionReport, utc_iso, write_report
from casino_tui.engine.state import PersistedState
from casino_tui.engine.streams import StreamStats
from casino_tui.exchange.replay.recorder import MarketRecorder, RecordingSink
from casino_tui.exchange.sim.paper import PaperAccountError, PaperStore, saved_sim_clock_ms
from casino_tui.healing import RESYNC, HealingJob
from casino_tui.model import TIMEFRAMES, AccountUpdate, Balance, Candle, OrderUpdate
from casino_tui.paths import StatePaths
from casino_tui.port import AuthError, Exchange, ExchangeError, MarketSink
from casino_tui.sensors.manager import SensorManager
from casino_tui.sensors.votes import VoteBatch
from casino_tui.snapshot import (
    Counters,
    HeaderView,
    LimitView,
    RuntimeSnapshot,
    SensorVoteRow,
)
from casino_tui.storage import SnapshotError, SnapshotStore

log = logging.getLogger("casino.runtime")

WARMUP_CANDLES = 300
TIMER_INTERVAL_S = 0.25


class StartupError(Exception):
    """A problem the operator must fix before the engine can run (unknown symbol, bad key ...): exit 2."""


class Runtime:
    """Owns the engine components and their lifecycle. See the module docstring for the order of things."""

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
        self.paths = paths
        self.symbols = list(config.symbols)
        self.clock = clock or _default_clock(config, paths)
        self.exchange = exchange or _build_exchange(config, self.clock)
        self.logs = log_setup
        if log_setup is not None:
            log_setup.use_clock(self.clock.now_ms)  # logs show the header's time, sim time on the sim
            # Exact values too, not only the patterns: a key or secret quoted in any message is hidden.
            self.exchange.share_secrets(log_setup.redactor.add_secret)
        self.use_timers = use_timers
        self.mode = _mode_badge(config)
        self.status = "STARTING"
        self._paused = False
        self._stop_requested = asyncio.Event() if _has_loop() else None
        self._stop_sweep: bool | None = None
        # LIVE needs the operator's explicit go-ahead (typed in the console, a flag headless) before trading.
        self._is_live_confirmed = self.mode != "LIVE"
        self._live_confirmed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._timer_task: asyncio.Task[None] | None = None
        self._balance = Balance("USDT", 0.0, 0.0)
        self._start_balance = 0.0
        self._started_wall = time.monotonic()
        self._started_ms = self.clock.now_ms()
        self._loop_lag_ms = 0.0
        self._seq = 0
        self._errors = 0
        self._decisions = 0
        self.report_path: Path | None = None
        self.stats = StreamStats(self.symbols, self.clock)
        self.candles = CandleBook(self.symbols, TIMEFRAMES, on_close=self._on_candles)
        self.engine = Engine(self.symbols, self.clock, self.candles, self.stats)
        self.sensors: SensorManager | None = None
        self.player: AdaptivePlayer | None = None
        self.croupier: Croupier | None = None
        self.rules: dict = {}
        self.journal: Journal | None = None
        self.store: SnapshotStore | None = None
        self._snapshot_task: asyncio.Task[None] | None = None
        self.paper: PaperStore | None = None  # the sim's saved account, when the sim runs on a state dir
        self.recovered_brackets = 0
        self._recovered_after_seq = 0
        # After a gap (reconnect, breaker back) the exchange re-reads the account; reconcile follows it.
        self.resync = HealingJob("reconcile after a gap", self._reconcile_after_gap, max_wait_s=10.0)
        self.recorder: MarketRecorder | None = None  # `--record PATH`: the market stream, for replays

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Everything up to RUNNING. Raises StartupError for problems the operator must fix."""
        if self._stop_requested is None:
            self._stop_requested = asyncio.Event()
        self.status = "STARTING"
        try:
            all_rules = await retries.read(self.exchange.symbol_rules)
        except ExchangeError as exc:
            raise StartupError(f"cannot read symbol rules from {self.exchange.name}: {exc}") from None
        try:
            permissions = await self.exchange.key_permissions()
        except AuthError as exc:
            raise StartupError(f"{self.exchange.name} refused the API key: {exc}") from None
        if permissions is not None and permissions.can_withdraw:
            raise StartupError("this API key can withdraw funds: refused; create a key without withdrawal rights")
        unknown = [s for s in self.symbols if s not in all_rules]
        if unknown:
            raise StartupError(f"unknown symbol on {self.exchange.name}: {', '.join(unknown)}")
        self.rules = {s: all_rules[s] for s in self.symbols}
        if self.is_stopping:
            return
        restored = self._open_state()
        state_dir = self.paths.root if self.paths is not None else None
        self.paper = PaperStore.for_exchange(self.exchange, self.clock, state_dir)
        try:
            if self.paper is not None:
                self.paper.restore()  # before anything reads the sim: its market, account and clock carry on
        except PaperAccountError as exc:
            raise StartupError(str(exc)) from None
        log.info(
            "loading %d candles of history per timeframe for %d symbols", WARMUP_CANDLES, len(self.symbols)
        )
        history = await self._load_history()
        if self.is_stopping:
            return
        self.engine.seed(history["1m"])
        self.sensors = SensorManager(self.symbols, self.config.sensors, self._on_votes)
        await self.sensors.start(history)
        self.player = AdaptivePlayer(
            self.symbols,
            self.sensors.sensor_names,
            self.sensors.sensor_timeframes,
            self.config.player,
            self.clock,
        )
        self.sensors.publish_current()
        await self.sensors.flush()
        if not await self._cleared_to_trade():
            return
        self.croupier = Croupier(
            self.exchange,
            self.rules,
            self.config.trading,
            self.clock,
            journal=self.journal,
            next_bracket_seq=restored.next_bracket_seq,
        )
        self.croupier.restore(restored.brackets)
        if restored.weights:
            self.player.load_weights(restored.weights)
        self.exchange.reopen_breakers(restored.breakers)
        self.exchange.set_sinks(self._market_sink(), _UserSink(self))
        try:
            await self.exchange.start(self.symbols)
            self._balance = await retries.read(self.exchange.balance)
        except AuthError as exc:
            raise StartupError(f"{self.exchange.name} refused the API key: {exc}") from None
        self._start_balance = self._balance.wallet
        self.status = "RECOVERING"
        await self._startup_reconcile()
        self.status = "PAUSED" if self._paused else "RUNNING"
        if self.use_timers:
            self._start_timer()
            if self.store is not None:
                self._snapshot_task = asyncio.create_task(self._snapshot_loop(), name="runtime-snapshots")
        log.info(
            "ready: %s, %d symbols, %d sensors, balance %.2f USDT, clock %s",
            self.exchange.name,
            len(self.symbols),
            len(self.sensors.sensor_names),
            self._balance.wallet,
            self.clock.label,
        )

    async def _cleared_to_trade(self) -> bool:
        """False if a stop came first. In LIVE mode, waits for `confirm_live()` while only market data
        streams: no order, no listenKey, no reconcile until the operator has said yes."""
        assert self._stop_requested is not None
        if self._live_confirmed is None:
            self._live_confirmed = asyncio.Event()
        if self._is_live_confirmed:
            self._live_confirmed.set()
        if self._live_confirmed.is_set() or self.is_stopping:
            return not self.is_stopping
        self.exchange.set_sinks(self._market_sink(), _UserSink(self))
        await self.exchange.start_market(self.symbols)
        if self.use_timers:
            self._start_timer()
        self.status = "UNCONFIRMED"
        log.warning("LIVE: waiting for the operator's confirmation; nothing trades until then")
        waits = [asyncio.ensure_future(e.wait()) for e in (self._live_confirmed, self._stop_requested)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if self.is_stopping:
            return False
        self.status = "STARTING"
        log.warning("LIVE trading confirmed by the operator")
        return True

    def confirm_live(self) -> None:
        """The operator's go-ahead for LIVE trading (the typed phrase, or headless `--confirm-live`)."""
        self._is_live_confirmed = True
        if self._live_confirmed is not None:
            self._live_confirmed.set()

    @property
    def is_live_confirmed(self) -> bool:
        return self._is_live_confirmed

    @property
    def is_stopping(self) -> bool:
        """A stop has been requested (start-up checks this between phases)."""
        return self._stop_requested is not None and self._stop_requested.is_set()

    def _start_timer(self) -> None:
        if self._timer_task is None:
            self._timer_task = asyncio.create_task(self._timer_loop(), name="runtime-timer")

    async def run(self) -> None:
        """Start, run until `request_stop()`, then the orderly shutdown (which always runs)."""
        try:
            await self.start()
            assert self._stop_requested is not None
            await self._stop_requested.wait()
        finally:
            await self.shutdown()

    def request_stop(self, sweep: bool | None = None) -> None:
        self._stop_sweep = sweep
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def shutdown(self) -> None:
        if self.status == "STOPPED":
            return
        self.status = "STOPPING"
        await self.resync.stop()
        for task in (self._timer_task, self._snapshot_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        sweep = (
            self._stop_sweep if self._stop_sweep is not None else self.config.runtime.on_shutdown == "sweep"
        )
        if self.croupier is not None:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if sweep:
                log.info("shutdown: sweeping every position")
                await self._safe(self.croupier.sweep())
            else:
                log.info(
                    "shutdown: %d open positions stay protected on the exchange", self.croupier.open_count
                )
        try:
            self._balance = await self.exchange.balance()
        except Exception as exc:  # the report still gets written with the last known balance
            log.warning("final balance unavailable: %s", exc)
        self.report_path = self._write_report()
        if self.sensors is not None:
            await self._safe(self.sensors.stop())
        await self._safe(self.exchange.stop())
        if self.recorder is not None:
            self.recorder.close()
        if self.croupier is not None:
            self.save_state()
        if self.journal is not None:
            self.journal.close()
        self.status = "STOPPED"
        log.info("stopped")

    async def _safe(self, coro) -> object:
        try:
            return await coro
        except Exception:
            self._errors += 1
            log.exception("error during shutdown")
            return None

    # ----------------------------------------------------------------- data path

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

    async def _load_history(self) -> dict[str, dict[str, list[Candle]]]:
        history: dict[str, dict[str, list[Candle]]] = {tf: {} for tf in TIMEFRAMES}
        now = self.clock.now_ms()

        async def one(tf: str, symbol: str) -> None:
            history[tf][symbol] = await retries.read(
                lambda: self.exchange.klines(symbol, tf, WARMUP_CANDLES, end_ms=now)
            )

        await asyncio.gather(*(one(tf, s) for tf in TIMEFRAMES for s in self.symbols))
        return history

    def _on_candles(self, timeframe: str, open_ms: int, candles: list[Candle]) -> None:
        if self.sensors is not None:
            self.sensors.submit(timeframe, open_ms, candles)

    def _on_votes(self, batch: VoteBatch) -> None:
        if self.player is None:
            return
        try:
            decisions = self.player.on_votes(batch)
        except Exception:
            self._errors += 1
            log.exception("player failed on %s batch", batch.timeframe)
            return
        for decision in decisions:
            self._decisions += 1
            if self.croupier is None:
                continue  # warm-up votes: the player learns, nothing trades yet
            if self._paused or self.status != "RUNNING":
                log.info(
                    "%s signal ignored: %s",
                    decision.side,
                    "paused" if self._paused else self.status.lower(),
                    extra={"symbol": decision.symbol},
                )
                continue
            price = self.stats.last_price(decision.symbol)
            self._spawn(self.croupier.open_bracket(decision, price), f"open-{decision.symbol}")

    def _spawn(self, coro, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._errors += 1
            log.error("%s failed: %s", task.get_name(), task.exception())

    def on_order_update(self, update: OrderUpdate) -> None:
        if self.croupier is not None:
            try:
                self.croupier.on_order_update(update)
            except Exception:
                self._errors += 1
                log.exception("order update handling failed", extra={"symbol": update.symbol})

    def on_account_update(self, update: AccountUpdate) -> None:
        for balance in update.balances:
            if balance.asset == "USDT":
                self._balance = balance
        if self.croupier is not None:
            self.croupier.on_account_update(update)
            if update.reason == RESYNC and self.status in ("RUNNING", "PAUSED"):
                self.resync.request("the exchange re-read the account after a gap")

    async def _timer_loop(self) -> None:
        """Closes candles at boundaries, forwards marks and measures loop lag: the runtime's only timer."""
        loop = asyncio.get_running_loop()
        expected = loop.time() + TIMER_INTERVAL_S
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now = loop.time()
            self._loop_lag_ms = max(0.0, (now - expected) * 1000)
            expected = max(expected + TIMER_INTERVAL_S, now)
            self.tick()

    def tick(self) -> None:
        """One timer step (also called directly by tests driving a ManualClock)."""
        try:
            self.engine.tick_timer(self.clock.now_ms())
            if self.croupier is not None:
                for symbol in self.symbols:
                    price = self.stats.last_price(symbol)
                    if price:
                        self.croupier.on_mark(symbol, price)
        except Exception:
            self._errors += 1
            log.exception("timer step failed")

    async def advance(self, ms: int, step_ms: int = 1000) -> None:
        """Move a ManualClock forward in steps, pumping the sim and settling all work (tests, replays)."""
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("advance() needs a ManualClock")
        end = clock.now_ms() + ms
        while clock.now_ms() < end:
            clock.advance(min(step_ms, end - clock.now_ms()))
            self.exchange.pump()
            self.tick()
            await self.settle()

    async def settle(self) -> None:
        """Wait until sensors, decisions and order handling in flight are done."""
        for _ in range(20):
            if self.sensors is not None:
                await self.sensors.flush()
            await asyncio.sleep(0)
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                await asyncio.sleep(0)
                if not self._tasks:
                    return

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
            if self.status == "RUNNING":
                self.status = "PAUSED"
            self._journal_then_say(PAUSE, {"paused": True}, "paused: no new entries; open brackets stay managed")

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            if self.status == "PAUSED":
                self.status = "RUNNING"
            self._journal_then_say(PAUSE, {"paused": False}, "resumed: new entries allowed")

    def toggle_pause(self) -> None:
        self.resume() if self._paused else self.pause()

    async def sweep(self) -> SweepResult:
        """Emergency sweep: pause, cancel everything, close everything, verify flat."""
        self.pause()
        self._journal(COMMAND, {"command": "sweep"})
        log.warning("EMERGENCY SWEEP started")
        if self.croupier is None:
            return SweepResult(0, 0, (), True, "nothing to sweep: not started")
        result = await self.croupier.sweep()
        (log.warning if result.is_flat else log.error)("sweep: %s", result.message)
        return result

    async def reconcile(self, apply: bool = False) -> ReconcileReport:
        from casino_tui.engine.reconcile import reconcile

        if self.croupier is None:
            raise RuntimeError("not started")
        if apply:
            self._journal(COMMAND, {"command": "reconcile"})
        return await reconcile(self.exchange, self.croupier, self.clock, apply=apply, journal=self.journal)

    # ----------------------------------------------------------------- state and recovery

    def _journal(self, kind: str, payload: dict[str, object]) -> None:
        if self.journal is not None:
            self.journal.append(kind, payload)

    def _journal_then_say(self, kind: str, payload: dict[str, object], said: str) -> None:
        """Journal an operator state change and log `said` only once it is on disk: the line tells the
        operator that a restart (even after a kill) keeps the change."""
        if self.journal is None:
            log.warning("%s", said)
            return
        written = self.journal.append(kind, payload)

        def confirm() -> None:
            if not written.cancelled() and written.exception() is None:
                log.warning("%s", said)
            else:
                log.error("%s, but the journal write failed: a restart will not keep it", said)

        if not _has_loop():
            confirm()  # exception() waits for the write
            return
        loop = asyncio.get_running_loop()
        written.add_done_callback(lambda _: loop.call_soon_threadsafe(confirm))

    def _open_state(self) -> _Restored:
        """Load the newest good snapshot and replay the journal tail on top of it."""
        restored = _Restored()
        if self.paths is None:
            return restored
        self.paths.ensure()
        try:
            self.journal = open_journal(self.paths.journal, self.clock.now_ms)
            self.store = SnapshotStore(self.paths.snapshots, clock_ms=self.clock.now_ms)
            state, warnings = self.store.load(PersistedState)
        except (JournalError, SnapshotError) as exc:  # permissions, locks, I/O: the operator's to fix
            raise StartupError(str(exc)) from None
        for warning in warnings:
            log.warning("%s", warning)
        by_id: dict[str, object] = {}
        after = 0
        if state is not None:
            after = state.journal_seq
            by_id = {b["id"]: b for b in state.brackets if isinstance(b, dict) and "id" in b}
            restored.paused = state.paused
            restored.next_bracket_seq = state.next_bracket_seq
            restored.weights = state.weights
            restored.breakers = state.breakers
        self._recovered_after_seq = after
        tail = self.journal.read(after)
        self.journal.record_session(self.clock)
        for entry in tail:
            if entry.kind == BRACKET and isinstance(entry.payload, dict):
                by_id[entry.ref] = entry.payload
            elif entry.kind == PAUSE and isinstance(entry.payload, dict):
                restored.paused = bool(entry.payload.get("paused"))
            elif entry.kind == INTENT and entry.ref.startswith("ct") and entry.ref[2:8].isdigit():
                # An intent carries its bracket's sequence number: never reuse it, even if nothing else survived.
                seq = int(entry.ref[2:8])
                restored.next_bracket_seq = max(restored.next_bracket_seq, seq + 1)
                raw = by_id.get(bracket_id(seq))
                if isinstance(raw, dict):
                    by_id[bracket_id(seq)] = _with_leg_intent(raw, entry.ref)
        for raw in by_id.values():
            try:
                restored.brackets.append(msgspec.convert(raw, Bracket))
            except msgspec.ValidationError as exc:
                log.error("unreadable bracket record skipped: %s", exc)
        restored.brackets.sort(key=lambda b: b.seq)
        active = [b for b in restored.brackets if b.is_active]
        self._paused = restored.paused
        self.recovered_brackets = len(active)
        if state is not None or tail:
            log.warning(
                "recovering: snapshot %s, %d journal events replayed, %d active brackets, %s",
                "loaded" if state is not None else "absent",
                len(tail),
                len(active),
                "PAUSED" if restored.paused else "not paused",
            )
        return restored

    async def _reconcile_after_gap(self) -> None:
        """Reconcile (safe policy) against the exchange; ExchangeError (it cannot be read yet) is retried."""
        from casino_tui.engine.reconcile import reconcile

        assert self.croupier is not None
        report = await reconcile(self.exchange, self.croupier, self.clock, apply=True, journal=self.journal)
        log.info("reconcile after a gap: %d differences handled", len(report.items))

    async def _startup_reconcile(self) -> None:
        """Resolve intents that never got an answer (by lookup, never by resending), then reconcile (safe policy)."""
        assert self.croupier is not None
        try:
            from casino_tui.engine import reconcile as rec

            if self.journal is not None:
                await rec.resolve_unacked(
                    self.exchange, self.journal, self.croupier, after_seq=self._recovered_after_seq
                )
            report = await rec.reconcile(
                self.exchange, self.croupier, self.clock, apply=True, journal=self.journal
            )
        except Exception:
            self._errors += 1
            log.exception("startup reconcile failed; continuing with local state")
            return
        if report.items:
            log.warning("startup reconcile: %d differences handled", len(report.items))
            for item in report.items:
                log.warning(
                    "reconcile %s %s: %s -> %s",
                    item.kind,
                    item.symbol,
                    item.action,
                    item.detail or "ok",
                    extra={"symbol": item.symbol},
                )
        else:
            log.info("startup reconcile: local state matches the exchange")

    def persisted_state(self) -> PersistedState:
        assert self.croupier is not None
        journal_seq = self.journal.last_seq() if self.journal is not None else 0
        return PersistedState(
            saved_ms=self.clock.now_ms(),
            journal_seq=journal_seq,
            paused=self._paused,
            next_bracket_seq=self.croupier.next_bracket_seq,
            brackets=[msgspec.to_builtins(b) for b in self.croupier.brackets],
            weights=self.player.weights_state() if self.player is not None else {},
            breakers=saved_breakers(self.exchange),
        )

    def save_state(self) -> None:
        if self.store is None or self.croupier is None:
            return
        try:
            self.store.save(self.persisted_state())
            if self.paper is not None:
                self.paper.save()
        except SnapshotError as exc:
            self._errors += 1
            log.error("%s", exc)

    async def _snapshot_loop(self) -> None:
        """Every few seconds, the durable state to disk, written off the loop."""
        assert self.store is not None
        while True:
            await asyncio.sleep(self.config.runtime.snapshot_interval_s)
            state = self.persisted_state()
            paper = self.paper.capture() if self.paper is not None else None  # the same instant as `state`
            try:
                await self.store.save_async(state)
                if paper is not None and self.paper is not None:
                    await self.paper.write_async(paper)
            except SnapshotError as exc:
                self._errors += 1
                log.error("%s", exc)

    # ----------------------------------------------------------------- read side

    def snapshot(self) -> RuntimeSnapshot:
        self._seq += 1
        now = self.clock.now_ms()
        croupier = self.croupier
        unrealized = croupier.unrealized_pnl if croupier is not None else 0.0
        realized = croupier.realized_pnl if croupier is not None else 0.0
        fees = croupier.fees if croupier is not None else 0.0
        stale, reason = self.engine.is_stale(now, self.config.runtime.stale_after_s)
        health = self.exchange.health()
        header = HeaderView(
            mode=self.mode,
            status=self.status,
            equity=self._balance.wallet + unrealized,
            pnl=self._balance.wallet + unrealized - self._start_balance if self._start_balance else 0.0,
            open_positions=self.open_position_count,
            open_orders=self._open_order_count(),
            max_positions=self.config.trading.max_positions,
            clock_ms=now,
            loop_lag_ms=self._loop_lag_ms,
            is_stale=stale and self.status in ("RUNNING", "PAUSED"),
            stale_reason=reason,
            exchange=self.exchange.name,
            clock_label=self.clock.label,
        )
        consensus = ()
        if self.player is not None and self.sensors is not None:
            consensus = self.player.rows(now, self.sensors.shard_of, self.sensors.is_degraded)
        errors = self._errors + health.errors + (self.logs.buffer.errors if self.logs else 0)
        return RuntimeSnapshot(
            seq=self._seq,
            header=header,
            streams=self.stats.rows(),
            consensus=consensus,
            brackets=croupier.bracket_rows(now) if croupier is not None else (),
            breakers=health.breakers,
            limits=LimitView(
                used_weight_1m=health.used_weight_1m,
                weight_limit_1m=health.weight_limit_1m,
                order_count_10s=health.order_count_10s,
                order_limit_10s=health.order_limit_10s,
                order_count_1m=health.order_count_1m,
                order_limit_1m=health.order_limit_1m,
            ),
            logs=self.logs.buffer.lines() if self.logs is not None else (),
            counters=Counters(
                ticks=self.engine.ticks,
                candles_closed=self.engine.candles_closed,
                decisions=self._decisions,
                trades=croupier.trades if croupier is not None else 0,
                brackets_opened=croupier.brackets_opened if croupier is not None else 0,
                brackets_closed=croupier.brackets_closed if croupier is not None else 0,
                errors=errors,
                realized_pnl=realized,
                fees=fees,
            ),
        )

    def _open_order_count(self) -> int:
        """Protective legs we know are live on the exchange (what a sweep would cancel)."""
        if self.croupier is None:
            return 0
        return sum(int(b.tp_acked) + int(b.sl_acked) for b in self.croupier.brackets if b.is_active)

    def sensor_detail(self, symbol: str) -> tuple[SensorVoteRow, ...]:
        return self.player.detail(symbol) if self.player is not None else ()

    def _write_report(self) -> Path | None:
        snap = self.snapshot()
        c = snap.counters
        report = SessionReport(
            exchange=self.exchange.name,
            mode=self.mode,
            symbols=tuple(self.symbols),
            trades=c.trades,
            realized_pnl=round(c.realized_pnl, 6),
            fees=round(c.fees, 6),
            open_positions=self.open_position_count,
            brackets_opened=c.brackets_opened,
            brackets_closed=c.brackets_closed,
            errors=c.errors,
            duration_s=round(time.monotonic() - self._started_wall, 3),
            ticks=c.ticks,
            candles_closed=c.candles_closed,
            decisions=c.decisions,
            start_balance=round(self._start_balance, 6),
            end_balance=round(self._balance.wallet, 6),
            clock=self.clock.label,
            started_at=utc_iso(self._started_ms),
            ended_at=utc_iso(now := self.clock.now_ms()),
        )
        if self.paths is None:
            return None
        try:
            return write_report(self.paths.reports, report, now)
        except OSError as exc:
            log.error("could not write the session report: %s", exc)
            return None


# Client id letter of a leg → the bracket fields naming it (close ids carry no acknowledgement flag).
_LEG_FIELDS = {
    "S": ("sl_client_id", "sl_generation", "sl_acked"),
    "T": ("tp_client_id", "tp_generation", "tp_acked"),
    "C": ("close_client_id", "close_generation", ""),
}


def _with_leg_intent(raw: dict[str, Any], cid: str) -> dict[str, Any]:
    """The bracket record with the leg a journaled intent sent under `cid` (the record may predate the send).

    Without it a restart would not know the leg: it would cancel the leg as an orphan and send its
    replacement under the same client id (`ct{seq:06d}{leg}{generation % 10}{hash}`).
    """
    fields = _LEG_FIELDS.get(cid[8:9])
    if fields is None or not cid[9:10].isdigit():
        return raw
    id_field, generation_field, acked_field = fields
    if raw.get(id_field) == cid:
        return raw
    known = int(raw.get(generation_field) or 0)
    generation = known + (int(cid[9]) - known) % 10
    out = {**raw, id_field: cid}
    if acked_field:
        out[generation_field], out[acked_field] = generation, False
    else:
        out[generation_field] = generation + 1  # a close id is taken, then the counter moves on
    return out


def saved_breakers(exchange: Exchange) -> dict[str, object]:
    """Open breakers and how long they still have to cool down, for the snapshot."""
    return {
        b.name: {"state": b.state, "reason": b.reason, "cooldown_s": b.cooldown_s}
        for b in exchange.health().breakers
        if b.state != "CLOSED"
    }


class _Restored:
    """What recovery hands to the components before they start."""

    def __init__(self) -> None:
        self.paused = False
        self.next_bracket_seq = 1
        self.brackets: list[Bracket] = []
        self.weights: dict[str, object] = {}
        self.breakers: dict[str, object] = {}


class _UserSink:
    """Routes user-stream events to the runtime (kept separate so the Engine stays market-only)."""

    def __init__(self, runtime: Runtime) -> None:
        self.on_order_update: Callable[[OrderUpdate], None] = runtime.on_order_update
        self.on_account_update: Callable[[AccountUpdate], None] = runtime.on_account_update


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _mode_badge(config: Config) -> str:
    if config.exchange.name == "sim":
        return "PAPER"
    if config.exchange.name == "binance-testnet":
        return "TESTNET"
    return "LIVE" if config.exchange.live else "PAPER"


def _default_clock(config: Config, paths: StatePaths | None) -> Clock:
    if config.exchange.name == "sim":
        saved = saved_sim_clock_ms(paths.root) if paths is not None else None  # a paper account goes on
        return SimClock(saved or WallClock().now_ms(), config.sim.speed)
    return WallClock()


def _build_exchange(config: Config, clock: Clock) -> Exchange:
    from casino_tui.exchange.factory import build_exchange

    return build_exchange(config, clock)
