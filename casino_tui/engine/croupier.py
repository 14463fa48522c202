"""Croupier: the trading side of the engine behind one facade (BracketBook + OCOManager + PositionTracker +
OrderExecutor).

The Runtime hands it decisions and exchange events; it hands back brackets, rows for the Brackets pane and
session counters.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from casino_tui.clock import Clock
from casino_tui.config import TradingConfig
from casino_tui.control import SweepResult
from casino_tui.engine.brackets.book import BracketBook
from casino_tui.engine.brackets.machine import Bracket
from casino_tui.engine.brackets.oco import OCOManager
from casino_tui.engine.executor import OrderExecutor, OrderJournal
from casino_tui.engine.positions import PositionTracker
from casino_tui.engine.trades import TradeLedger
from casino_tui.model import AccountUpdate, BracketState, CloseReason, Decision, OrderUpdate, SymbolRules
from casino_tui.port import Exchange
from casino_tui.snapshot import BracketRow

log = logging.getLogger("casino.croupier")

RECENT_ROWS = 10  # closed brackets shown under the active ones


class Croupier:
    """Places a bracket per decision and keeps positions, marks and PnL (DESIGN.md §5)."""

    def __init__(
        self,
        exchange: Exchange,
        rules: dict[str, SymbolRules],
        config: TradingConfig,
        clock: Clock,
        journal: OrderJournal | None = None,
        *,
        next_bracket_seq: int = 1,
        executor: OrderExecutor | None = None,
        ledger: TradeLedger | None = None,
    ) -> None:
        self.exchange = exchange
        self.rules = rules
        self.config = config
        self.clock = clock
        self.journal = journal
        self.ledger = ledger if ledger is not None else TradeLedger()  # closed trades, for the Trades screen
        self.tracker = PositionTracker()
        self.executor = executor or OrderExecutor(exchange, clock, journal)
        self.book = BracketBook(clock, next_seq=next_bracket_seq, on_transition=self._on_transition)
        self.oco = OCOManager(self.book, self.executor, rules, config, clock, self.tracker)
        self._journal_errors = 0
        # Session counters for the metrics: sweeps by how they ended, applied reconciles and what they found.
        self.sweeps_flat = 0
        self.sweeps_incomplete = 0
        self.reconciles = 0
        self.reconcile_differences = 0

    # -- commands and events ----------------------------------------------------------------------------

    async def open_bracket(self, decision: Decision, price: float) -> Bracket | None:
        return await self.oco.open_bracket(decision, price)

    async def sweep(self) -> SweepResult:
        is_flat = False
        try:
            result = await self.oco.sweep()
            is_flat = result.is_flat
            return result
        finally:  # a sweep cut off (deadline, crash) did not reach flat either
            if is_flat:
                self.sweeps_flat += 1
            else:
                self.sweeps_incomplete += 1

    def count_reconcile(self, differences: int) -> None:
        """An applied reconcile has run and handled `differences` differences."""
        self.reconciles += 1
        self.reconcile_differences += differences

    def on_order_update(self, update: OrderUpdate) -> None:
        """A user-stream order event: settles pending unknown outcomes, then moves brackets and positions."""
        record = getattr(self.journal, "record_order", None)
        if record is not None:
            self._journal_call(record, update)
        self.executor.observe(update)
        self.oco.on_order_update(update)

    def on_account_update(self, update: AccountUpdate) -> None:
        self.tracker.on_account_update(update)
        self.oco.on_account_update(update)

    def on_mark(self, symbol: str, price: float) -> None:
        self.tracker.on_mark(symbol, price)

    def restore(self, brackets: list[Bracket]) -> None:
        """Take back the active brackets of a previous run (from the state snapshot) before reconcile."""
        self.book.restore(brackets)

    async def wait_idle(self) -> None:
        await self.book.wait_idle()

    # -- read side --------------------------------------------------------------------------------------

    @property
    def brackets(self) -> tuple[Bracket, ...]:
        """Active brackets, then the recent closed ones (oldest first)."""
        return self.book.active + self.book.closed

    @property
    def open_count(self) -> int:
        return self.book.open_count

    @property
    def next_bracket_seq(self) -> int:
        return self.book.next_seq

    @property
    def trades(self) -> int:
        return self.tracker.trades

    @property
    def brackets_opened(self) -> int:
        return self.book.brackets_opened

    @property
    def brackets_closed(self) -> int:
        return self.book.brackets_closed

    @property
    def realized_pnl(self) -> float:
        return self.tracker.realized_pnl

    @property
    def unrealized_pnl(self) -> float:
        return self.tracker.unrealized_pnl()

    @property
    def fees(self) -> float:
        return self.tracker.fees

    @property
    def errors(self) -> int:
        return self.book.errors + self.executor.errors + self._journal_errors

    def bracket_rows(self, now_ms: int, recent: int = RECENT_ROWS) -> tuple[BracketRow, ...]:
        """Active brackets first (newest first), then up to `recent` closed ones."""
        active = sorted(self.book.active, key=lambda b: b.seq, reverse=True)
        closed = list(self.book.closed)[-recent:][::-1] if recent > 0 else []
        return tuple(self._row(b, now_ms) for b in active + closed)

    def _row(self, bracket: Bracket, now_ms: int) -> BracketRow:
        mark = self.tracker.mark(bracket.symbol) or bracket.entry_price
        is_closed = bracket.state is BracketState.CLOSED
        is_open = bracket.has_entry_fill and not is_closed
        upnl = (mark - bracket.entry_price) * bracket.qty * bracket.side.sign if is_open else 0.0
        since = bracket.opened_ms or bracket.created_ms
        until = bracket.closed_ms if is_closed and bracket.closed_ms else now_ms
        has_reason = is_closed and bracket.close_reason is not CloseReason.NONE
        return BracketRow(
            bracket_id=bracket.id,
            symbol=bracket.symbol,
            side="LONG" if bracket.side.sign > 0 else "SHORT",
            qty=bracket.qty,
            entry=bracket.entry_price,
            mark=mark if is_open else bracket.exit_price,
            tp=bracket.tp_price,
            sl=bracket.sl_price,
            upnl=upnl if is_open else bracket.realized_pnl,
            age_s=max(0.0, (until - since) / 1000) if since else 0.0,
            state=bracket.state,
            is_protected=bracket.is_protected,
            is_at_risk=bracket.is_at_risk,
            close_reason=bracket.close_reason if has_reason else None,
        )

    # -- journal ----------------------------------------------------------------------------------------

    def _on_transition(self, bracket: Bracket, old: BracketState, new: BracketState) -> None:
        record = getattr(self.journal, "record_bracket", None)
        if record is not None:
            self._journal_call(record, bracket)
        if new is BracketState.CLOSED:  # the journal's CLOSED record is what a restart's ledger reads back
            self.ledger.record(bracket)

    def _journal_call(self, method: Any, arg: Any) -> None:
        try:
            result = method(arg)
            if inspect.iscoroutine(result):
                result.close()  # a sync event handler cannot await; the journal's sync methods are the ones used
                raise TypeError(f"{getattr(method, '__name__', method)} must not be a coroutine here")
        except Exception:
            self._journal_errors += 1
            log.exception("journal write failed")
