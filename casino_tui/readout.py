"""The read side of a session: the `RuntimeSnapshot` the faces read at 2-10 Hz, and the session report at exit.

It keeps the figures that only the read side needs (the balance as last reported, the balance at start, the
snapshot counter); everything else it reads from the parts when asked.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from casino_tui.clock import Clock
from casino_tui.config import Config
from casino_tui.decisions import DecisionPath
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.engine import Engine
from casino_tui.engine.exitcheck import ExitCheck
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.engine.report import SessionReport, SweepOutcome, exit_code_for, utc_iso, write_report
from casino_tui.engine.streams import StreamStats
from casino_tui.heartbeat import Heartbeat
from casino_tui.lifecycle import RuntimeStatus
from casino_tui.model import Balance, TradingMode
from casino_tui.port import Exchange, StreamConnection
from casino_tui.snapshot import Counters, HeaderView, LimitView, RuntimeSnapshot

log = logging.getLogger("casino.runtime")

QUOTE = "USDT"


class Readout:
    """Builds snapshots and the report from the parts; `balance` follows the exchange's account updates."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        exchange: Exchange,
        engine: Engine,
        stats: StreamStats,
        decisions: DecisionPath,
        heartbeat: Heartbeat,
        logs: LogSetup | None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._exchange = exchange
        self._engine = engine
        self._stats = stats
        self._decisions = decisions
        self._heartbeat = heartbeat
        self._logs = logs
        self.balance = Balance(QUOTE, 0.0, 0.0)
        self.start_balance = 0.0
        self._seq = 0
        self._started_wall = time.monotonic()
        self._started_ms = clock.now_ms()

    def take_balances(self, balances: tuple[Balance, ...]) -> None:
        for balance in balances:
            if balance.asset == QUOTE:
                self.balance = balance

    def snapshot(
        self,
        mode: TradingMode,
        status: RuntimeStatus,
        croupier: Croupier | None,
        errors: int,
        progress: str = "",
    ) -> RuntimeSnapshot:
        """The view of everything now (a stale feed is news only while the runtime is ready)."""
        self._seq += 1
        now = self._clock.now_ms()
        unrealized = croupier.unrealized_pnl if croupier is not None else 0.0
        equity = self.balance.wallet + unrealized
        stale, reason = self._engine.is_stale(now, self._config.runtime.stale_after_s)
        health = self._exchange.health()
        degraded = degraded_symbols(health.streams)
        if stale and degraded:
            reason += f"; {len(degraded)} of {len(self._stats.symbols)} symbols without market data"
        header = HeaderView(
            mode=mode,
            status=status,
            equity=equity,
            pnl=equity - self.start_balance if self.start_balance else 0.0,
            open_positions=croupier.open_count if croupier is not None else 0,
            open_orders=_protective_legs(croupier),
            max_positions=self._config.trading.max_positions,
            clock_ms=now,
            loop_lag_ms=self._heartbeat.loop_lag_ms,
            is_stale=stale and status.is_ready,
            stale_reason=reason,
            exchange=self._exchange.name,
            clock_label=self._clock.label,
            progress=progress,
        )
        return RuntimeSnapshot(
            seq=self._seq,
            header=header,
            streams=self._stats.rows(degraded=degraded),
            consensus=self._decisions.consensus(now),
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
            logs=self._logs.buffer.lines() if self._logs is not None else (),
            counters=self._counters(croupier, errors + health.errors),
            connections=health.streams,
        )

    def _counters(self, croupier: Croupier | None, errors: int) -> Counters:
        return Counters(
            ticks=self._engine.ticks,
            candles_closed=self._engine.candles_closed,
            decisions=self._decisions.decisions,
            trades=croupier.trades if croupier is not None else 0,
            brackets_opened=croupier.brackets_opened if croupier is not None else 0,
            brackets_closed=croupier.brackets_closed if croupier is not None else 0,
            errors=errors
            + self._decisions.errors
            + self._heartbeat.errors
            + (self._logs.buffer.errors if self._logs else 0),
            realized_pnl=croupier.realized_pnl if croupier is not None else 0.0,
            fees=croupier.fees if croupier is not None else 0.0,
        )

    def write_report(
        self,
        directory: Path | None,
        counters: Counters,
        mode: TradingMode,
        *,
        exit_check: ExitCheck | None,
        unprotected: tuple[str, ...],
        open_positions: int,
        sweep: SweepOutcome,
    ) -> tuple[Path | None, int]:
        """The session report, from the last snapshot's `counters` and what the exit check confirmed (positions
        it found outrank the local `open_positions`), written to `directory` (None: nowhere). Returns its path
        (None when not written) and the exit code it implies."""
        if exit_check is not None and exit_check.is_verified:
            open_positions = len(exit_check.positions)
        exit_code = exit_code_for(sweep, len(unprotected), open_positions)
        ended_ms = self._clock.now_ms()
        c = counters
        report = SessionReport(
            exchange=self._exchange.name,
            mode=mode,
            symbols=tuple(self._config.symbols),
            trades=c.trades,
            realized_pnl=round(c.realized_pnl, 6),
            fees=round(c.fees, 6),
            open_positions=open_positions,
            brackets_opened=c.brackets_opened,
            brackets_closed=c.brackets_closed,
            errors=c.errors,
            duration_s=round(time.monotonic() - self._started_wall, 3),
            ticks=c.ticks,
            candles_closed=c.candles_closed,
            decisions=c.decisions,
            start_balance=round(self.start_balance, 6),
            end_balance=round(self.balance.wallet, 6),
            clock=self._clock.label,
            started_at=utc_iso(self._started_ms),
            ended_at=utc_iso(ended_ms),
            sweep=sweep,
            unprotected_at_exit=len(unprotected),
            unprotected=unprotected,
            exit_code=exit_code,
        )
        if directory is None:
            return None, exit_code
        try:
            return write_report(directory, report, ended_ms), exit_code
        except OSError as exc:
            log.error("could not write the session report: %s", exc)
            return None, exit_code


def _protective_legs(croupier: Croupier | None) -> int:
    """Protective legs we know are live on the exchange (what a sweep would cancel)."""
    if croupier is None:
        return 0
    return sum(int(b.tp_acked) + int(b.sl_acked) for b in croupier.brackets if b.is_active)


def degraded_symbols(connections: tuple[StreamConnection, ...]) -> frozenset[str]:
    """The symbols whose market-data connection is down: only they are degraded, the others flow on."""
    return frozenset(symbol for conn in connections if not conn.connected for symbol in conn.symbols)
