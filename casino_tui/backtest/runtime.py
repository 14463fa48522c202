"""ReplayRuntime: the same Runtime, driven by historical data instead of a wall-clock timer.

The driver moves the replay clock through the data in steps of one second of data time (skipping stretches
with no trades). At each step it publishes marks, runs the runtime's timer step (candle closes, marks to the
croupier) and, when anything happened (candles closed, an order moved), waits until every consequence has
settled (votes, decisions, orders, fills) before the next trade is delivered. The exchange also stops at any
trade that moved one of our orders. So what trades, and when, depends only on the data and the config: a
report is the same on every run. The wall clock only paces the run (`--speed X`) and lets the console and
signal handlers in between steps (`--speed max`), never in the middle of one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from casino_tui.backtest.report import (
    BAD_ROWS_LISTED,
    BadRowInfo,
    Ledger,
    ReplayReport,
    SensorStats,
    summary_lines,
    utc_iso,
    write_report,
)
from casino_tui.clock import ReplayClock
from casino_tui.config import Config
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.exchange.replay.errors import ReplayDataError
from casino_tui.exchange.replay.exchange import FeedStop, ReplayExchange, WarmupTooLongError
from casino_tui.model import TIMEFRAME_MS, TIMEFRAMES, TradingMode
from casino_tui.runtime import Runtime, StartupError

log = logging.getLogger("casino.replay")

STEP_MS = 1000  # the replay's timer step, in data time (the live runtime's timer runs 4× a second)
YIELD_EVERY_S = 0.02  # at max speed, the longest stretch of wall time without letting the loop run
PROGRESS_EVERY_S = 2.0
MAX_SETTLE_ROUNDS = 200
EQUITY_EVERY_MS = 60_000

OnFinished = Callable[[ReplayReport, Path | None], None]


class ReplaySetupError(Exception):
    """The data and the config cannot make a replay (a decision timeframe finer than the data ...): exit 2."""


def interval_name(ms: int | None) -> str:
    """60000 → '1m', 14400000 → '4h', None → 'trades'."""
    if ms is None:
        return "trades"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def unavailable_timeframes(base_ms: dict[str, int], config: Config) -> tuple[str, ...]:
    """The engine's timeframes finer than the data's coarsest bar: never fabricated, so their sensors sit out.

    Raises ReplaySetupError when what remains cannot trade (the decision timeframe or the 1h filter is among them).
    """
    coarsest = max(base_ms.values())
    missing = tuple(tf for tf in TIMEFRAMES if TIMEFRAME_MS[tf] < coarsest)
    interval = interval_name(coarsest)
    if len(missing) == len(TIMEFRAMES):
        raise ReplaySetupError(
            f"the data's {interval} bars are coarser than every timeframe the engine uses "
            f"({', '.join(TIMEFRAMES)}): nothing to replay"
        )
    if config.player.decision_timeframe in missing:
        raise ReplaySetupError(
            f"player.decision_timeframe {config.player.decision_timeframe} is finer than the data's {interval} bars"
        )
    return missing


class ReplayRuntime(Runtime):
    """A Runtime over a ReplayExchange: `run()` warms up, starts, replays the data to its end (or a stop),
    then shuts down in order and writes the replay report (`report_path`, `report`)."""

    def __init__(
        self,
        config: Config,
        exchange: ReplayExchange,
        clock: ReplayClock,
        *,
        files: list[str],
        reports_dir: Path | None = None,
        log_setup: LogSetup | None = None,
        on_finished: OnFinished | None = None,
    ) -> None:
        self.unavailable = unavailable_timeframes(exchange.base_ms, config)
        super().__init__(config, exchange=exchange, clock=clock, log_setup=log_setup, use_timers=False)
        self.mode = TradingMode.REPLAY
        self.decisions.unavailable_timeframes = frozenset(self.unavailable)
        self.replay = exchange
        self.replay_clock = clock
        self.files = list(files)
        self.reports_dir = reports_dir
        self.on_finished = on_finished
        self.report: ReplayReport | None = None
        self.ledger: Ledger | None = None
        self.data_error = ""  # why the data could not be read on, if it could not
        self.warmup_ms = clock.now_ms()
        self._batches_seen = 0
        self._now: int | None = None  # the driver's data time, once it has begun
        self._wall_start = self._last_yield = 0.0
        self._data_start = 0

    # ----------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        """Warm up, start, replay to the end of the data or a stop, then the orderly shutdown and the report."""
        try:
            await self.begin()
            if self.status.is_ready and not self.is_stopping:
                progress = asyncio.create_task(self._progress_lines(), name="replay-progress")
                try:
                    await self.replay_until()
                except ReplayDataError as exc:  # what was replayed so far still gets its report
                    self.data_error = str(exc)
                    log.error("replay stopped: %s", exc)
                finally:
                    progress.cancel()
                    await asyncio.gather(progress, return_exceptions=True)
        finally:
            await self.shutdown()

    async def begin(self) -> None:
        """Read the warm-up bars, then the runtime's start-up on them (StartupError if the data is too short)."""
        try:
            self.warmup_ms = await self.replay.warm_up()
        except (WarmupTooLongError, ReplayDataError) as exc:
            raise StartupError(str(exc)) from None
        if self.unavailable:
            log.warning(
                "sensors on %s are unavailable for this replay: the data's bars are %s (not made up)",
                ", ".join(self.unavailable),
                interval_name(max(self.replay.base_ms.values())),
            )
        await self.start()
        self.ledger = Ledger(self.clock.now_ms(), EQUITY_EVERY_MS)

    # ----------------------------------------------------------------- the driver

    async def replay_until(self, end_ms: int | None = None) -> None:
        """Replay the data up to `end_ms` (data time, whole steps; None: to its end), or until a stop."""
        replay, clock = self.replay, self.replay_clock
        if self._now is None:
            self._wall_start = self._last_yield = time.perf_counter()
            self._data_start = self._now = clock.now_ms()
            await self._step(self._now)
        while not self.is_stopping and (end_ms is None or self._now < end_ms):
            upcoming = replay.next_trade_ms()
            if upcoming is None:
                break
            if end_ms is not None:
                upcoming = min(upcoming, end_ms)
            if upcoming >= self._now + STEP_MS:  # nothing in between: on to the step holding the next trade
                self._now = upcoming - upcoming % STEP_MS
                await self._step(self._now)
                if self._now == end_ms:
                    break
            until = self._now + STEP_MS
            while replay.feed(until) is FeedStop.EVENT:
                await self._settle_all()
                self._close_brackets()
            self._now = until
            await self._step(until)
        if replay.is_exhausted:
            clock.progress = 1.0
            log.info("the data ended at %s", utc_iso(clock.now_ms()))

    async def _step(self, now: int) -> None:
        """One timer step at `now` (data time): marks, candle closes, settling, the ledger, pacing."""
        self.replay_clock.set(now)
        self.replay.publish_marks(now)
        self.tick()
        if self.engine.batches != self._batches_seen or self.replay.has_pending_events:
            self._batches_seen = self.engine.batches
            await self._settle_all()
        self._close_brackets()
        ledger = self.ledger
        if ledger is not None:
            ledger.on_step(now, self.open_position_count)
            if now % EQUITY_EVERY_MS == 0:
                ledger.equity.observe(now, self.replay.matching.balance().equity)
        await self._pace(now)

    async def _settle_all(self) -> None:
        """Until nothing is left in flight: sensor votes, decisions, orders and the events they cause."""
        for _ in range(MAX_SETTLE_ROUNDS):
            await self.settle()
            if self.croupier is not None:
                await self.croupier.wait_idle()
            if self.replay.has_pending_events:
                self.replay.flush_events()
                continue
            if not self.decisions.has_entries_in_flight:
                return
        self._errors += 1
        log.error("work still in flight after %d rounds; replaying on", MAX_SETTLE_ROUNDS)

    def _close_brackets(self) -> None:
        if self.croupier is not None and self.ledger is not None:
            before = self.ledger.wins + self.ledger.losses
            self.ledger.on_closed(self.croupier.brackets_closed, self.croupier.book.closed)
            if self.ledger.wins + self.ledger.losses != before:
                self.ledger.equity.observe(self.clock.now_ms(), self.replay.matching.balance().equity)

    async def _pace(self, now: int) -> None:
        """At `--speed X`, wait until the wall catches up with the data; at max, let the loop run now and then.
        Either way the clock's progress and measured speed (the header's) follow."""
        clock = self.replay_clock
        wall = time.perf_counter()
        due = self._wall_start + (now - self._data_start) / 1000.0 / clock.pace if clock.pace else wall
        if due <= wall and wall - self._last_yield < YIELD_EVERY_S:
            return
        clock.progress = self.replay.progress()
        elapsed = wall - self._wall_start
        if clock.pace is None and elapsed > 0:
            clock.speed = max(1.0, (now - self._data_start) / 1000.0 / elapsed)
        await asyncio.sleep(max(0.0, due - wall))
        self._last_yield = time.perf_counter()

    async def _progress_lines(self) -> None:
        """A progress line every few seconds: position in the data, ticks per second, time left."""
        last_wall, last_ticks = time.perf_counter(), self.replay.delivered
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            wall, ticks = time.perf_counter(), self.replay.delivered
            done = self.replay.progress()
            elapsed = wall - self._wall_start
            eta = elapsed * (1.0 - done) / done if done > 0 else None
            log.info(
                "%5.1f%% · %s ticks/s · ETA %s · data at %s",
                done * 100.0,
                f"{(ticks - last_ticks) / max(wall - last_wall, 1e-9):,.0f}",
                "?" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta)),
                utc_iso(self.clock.now_ms())[:16].replace("T", " ") + "Z",
            )
            last_wall, last_ticks = wall, ticks

    # ----------------------------------------------------------------- the report

    def _write_report(self, unprotected: tuple[str, ...]) -> tuple[Path | None, int]:
        """Called by the shutdown once the final balance is known: the replay report instead of the session's
        (none when the replay never got to trade), and exit code 0."""
        if self.croupier is None:
            return None, 0
        self._close_brackets()
        report = self.build_report()
        self.report = report
        for line in summary_lines(report):
            log.info("%s", line)
        path: Path | None = None
        if self.reports_dir is not None:
            try:
                path = write_report(self.reports_dir, report)
            except OSError as exc:
                log.error("could not write the replay report: %s", exc)
        if self.on_finished is not None:
            self.on_finished(report, path)
        return path, 0

    def build_report(self) -> ReplayReport:
        ledger = self.ledger or Ledger(self.clock.now_ms())
        now = self.clock.now_ms()
        balance = self.replay.matching.balance()
        ledger.on_step(now, self.open_position_count)
        ledger.equity.observe(now, balance.equity)
        source = self.replay.source
        player = self.decisions.player
        weights = player.weights_state()["sensors"] if player is not None else {}
        timeframes = (
            dict(zip(self.sensors.sensor_names, self.sensors.sensor_timeframes, strict=True))
            if self.sensors
            else {}
        )
        sensors = {
            name: SensorStats(
                timeframe=timeframes.get(name, ""),
                available=timeframes.get(name, "") not in self.unavailable,
                hit_rate=round(entry["hit_rate"], 6),
                samples=entry["samples"],
                weight=round(entry["weight"], 6),
            )
            for name, entry in weights.items()
        }
        trades = ledger.wins + ledger.losses
        replayed_ms = max(1, now - ledger.start_ms)
        snap = self.snapshot().counters
        bad_rows = tuple(
            BadRowInfo(str(Path(row.file).name), row.line, row.reason)
            for row in list(getattr(source, "bad_rows", ()))[:BAD_ROWS_LISTED]
        )
        cfg = self.config
        return ReplayReport(
            files=tuple(self.files),
            symbols=tuple(self.symbols),
            intervals={s: interval_name(source.interval_ms.get(s)) for s in self.symbols},
            seed=cfg.sim.seed,
            data_from=utc_iso(source.start_ms),
            data_to=utc_iso(source.end_ms),
            trading_from=utc_iso(self.warmup_ms),
            replayed_to=utc_iso(now),
            complete=self.replay.is_exhausted and not self.data_error,
            stopped_by=(
                f"data error: {self.data_error}"
                if self.data_error
                else "end of data"
                if self.replay.is_exhausted
                else "operator"
            ),
            warmup_bars=self.replay.warmup_bars,
            ticks=self.replay.delivered,
            warmup_ticks=self.replay.warmup.trades,
            candles_closed=snap.candles_closed,
            decisions=snap.decisions,
            trades=trades,
            wins=ledger.wins,
            losses=ledger.losses,
            win_rate=round(ledger.wins / trades * 100.0, 4) if trades else 0.0,
            realized_pnl=round(self.replay.matching.realized_pnl, 8),
            fees=round(self.replay.matching.fees, 8),
            net_pnl=round(self.replay.matching.realized_pnl - self.replay.matching.fees, 8),
            profit_factor=round(ledger.gross_profit / ledger.gross_loss, 6)
            if ledger.gross_loss > 0
            else None,
            max_drawdown=round(ledger.equity.max_drawdown, 6),
            max_drawdown_pct=round(ledger.equity.max_drawdown_pct, 6),
            exposure_pct=round(ledger.exposed_ms / replayed_ms * 100.0, 4),
            avg_open_positions=round(ledger.position_ms / replayed_ms, 6),
            start_balance=round(cfg.sim.start_balance_usdt, 8),
            end_balance=round(balance.wallet, 8),
            end_equity=round(balance.equity, 8),
            open_positions=len(self.replay.matching.positions()),
            unrealized_pnl=round(balance.unrealized_pnl, 8),
            rejected_entries=ledger.rejected,
            errors=snap.errors,
            bars_reaching_both_legs=(
                self.replay.kline_fills.both_legs_reached if self.replay.kline_fills is not None else 0
            ),
            unavailable_timeframes=self.unavailable,
            sensors=sensors,
            bad_row_count=int(getattr(source, "bad_row_count", 0)),
            bad_rows=bad_rows,
            settings={
                "trading": msgspec.to_builtins(cfg.trading),
                "player": msgspec.to_builtins(cfg.player),
                "account": {
                    "start_balance_usdt": cfg.sim.start_balance_usdt,
                    "taker_fee": cfg.sim.taker_fee,
                    "slippage_bps": cfg.sim.slippage_bps,
                },
            },
            equity_interval_ms=ledger.equity.interval_ms,
            equity=tuple(ledger.equity.points),
            trade_list=tuple(ledger.trades),
        )
