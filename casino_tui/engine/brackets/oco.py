"""OCOManager: opens a bracket per decision, keeps its stop on the exchange and closes it.

Exchange events arrive in any order with respect to REST answers (a fill can beat its acknowledgement), so
every update goes through the same idempotent handlers whether it came from a REST ack or the user stream;
the workers hand their REST answers back to `on_order_update` for that reason. The handlers decide; the
work that must await runs in the book's background tasks and lives beside the manager: leg placement in
`protection.py`, closing and leg cancels in `closing.py`, the emergency sweep in `sweep.py`. The brackets,
their locks and counters are the `BracketBook`'s.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from casino_tui.clock import Clock
from casino_tui.config import TradingConfig
from casino_tui.control import SweepResult
from casino_tui.engine.brackets.book import BracketBook
from casino_tui.engine.brackets.closing import BracketCloser
from casino_tui.engine.brackets.machine import Bracket, Leg
from casino_tui.engine.brackets.protection import LegPlacer
from casino_tui.engine.brackets.sweep import Sweeper
from casino_tui.engine.executor import SEND_FAILURES, OrderExecutor, UnresolvedOrderError
from casino_tui.engine.positions import PositionTracker
from casino_tui.model import (
    AccountUpdate,
    BracketState,
    CloseReason,
    Decision,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    SymbolRules,
)

log = logging.getLogger("casino.oco")

S = BracketState
_OPEN = (S.OPEN_UNPROTECTED, S.PROTECTED)
MAX_LEG_GENERATIONS = 10  # a leg the exchange keeps cancelling is a failure, not something to retry forever


class OCOManager:
    """Brackets per symbol: market entry, TP/SL as exchange-side conditional orders, one cancels the other."""

    def __init__(
        self,
        book: BracketBook,
        executor: OrderExecutor,
        rules: dict[str, SymbolRules],
        config: TradingConfig,
        clock: Clock,
        tracker: PositionTracker,
        *,
        sweep_rounds: int = 8,
        close_attempts: int = 3,
    ) -> None:
        self._book = book
        self._executor = executor
        self._rules = rules
        self._config = config
        self._clock = clock
        self._tracker = tracker
        self._protecting: dict[str, asyncio.Task[None]] = {}
        on_update = self.on_order_update
        self._closer = BracketCloser(book, executor, rules, tracker, on_update, attempts=close_attempts)
        self._placer = LegPlacer(book, executor, rules, config, self._closer, on_update)
        self._sweeper = Sweeper(book, executor, self._closer, rules, clock, on_update, rounds=sweep_rounds)

    # -- opening ----------------------------------------------------------------------------------------

    async def open_bracket(self, decision: Decision, price: float) -> Bracket | None:
        """Open a bracket for `decision` at about `price`; None when skipped (nothing was sent).

        Returns the bracket otherwise, in whatever state the entry and protection left it.
        """
        symbol = decision.symbol
        book = self._book
        async with book.symbol_lock(symbol):
            is_taken = book.is_sweeping or book.bracket_for(symbol) is not None
            if is_taken or book.open_count >= self._config.max_positions:
                return None
            rules = self._rules.get(symbol)
            if rules is None:
                log.warning("no symbol rules; skipping decision", extra={"symbol": symbol})
                return None
            qty = rules.qty_for_notional(self._config.notional_usdt, price)
            if qty <= 0:
                log.info("notional below the symbol's filters; skipping", extra={"symbol": symbol})
                return None
            bracket = book.open(symbol, decision.side, qty)
            request = OrderRequest(symbol, decision.side, OrderType.MARKET, qty, bracket.entry_client_id)
            try:
                ack = await self._executor.place(request)
            except UnresolvedOrderError as exc:
                # Most likely never placed; if a fill turns up later it is closed as an orphan.
                self._entry_failed(bracket, f"entry outcome unresolved: {exc}")
                return bracket
            except SEND_FAILURES as exc:
                self._entry_failed(bracket, f"entry failed: {exc}")
                return bracket
            self.on_order_update(ack)
            task = self._protecting.get(bracket.id)
            if task is not None:
                # wait() rather than await: a failure inside is already logged and counted by the book.
                await asyncio.wait({task})
            return bracket

    def _entry_failed(self, bracket: Bracket, why: str) -> None:
        self._book.count_error()
        bracket.note = why
        log.warning("%s: %s", bracket.id, why, extra={"symbol": bracket.symbol})
        if bracket.state is S.PENDING_ENTRY:
            self._book.move(bracket, S.ENTRY_REJECTED, CloseReason.REJECTED)
            self._book.move(bracket, S.CLOSED)

    # -- exchange events --------------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> None:
        """Route one order update (REST ack or user stream) to its bracket; unknown client ids only count."""
        applied = self._tracker.apply_fill(update)
        found = self._book.route(update.client_id)
        if found is None:
            return
        bracket, leg = found
        bracket.fees += applied.fee
        if leg is Leg.ENTRY:
            self._on_entry(bracket, update)
        else:
            self._on_leg(bracket, leg, update)

    def on_account_update(self, update: AccountUpdate) -> None:
        """A position that went flat while its bracket was closing settles the bracket."""
        for pos in update.positions:
            bracket = self._book.bracket_for(pos.symbol)
            if bracket is None or bracket.state not in (S.CLOSING, S.PROTECT_FAILED):
                continue
            if pos.qty == 0 and bracket.has_entry_fill:
                self._book.spawn(self._closer.finish(bracket, None), f"finish-{bracket.id}")

    def _on_entry(self, bracket: Bracket, update: OrderUpdate) -> None:
        filled = update.status is OrderStatus.FILLED or (update.status.is_final and update.filled_qty > 0)
        if filled and not bracket.has_entry_fill:
            bracket.qty = update.filled_qty or bracket.qty
            bracket.entry_price = update.avg_price or update.last_price
            bracket.opened_ms = update.ts_ms or self._clock.now_ms()
            if bracket.state is S.PENDING_ENTRY:
                self._book.move(bracket, S.OPEN_UNPROTECTED)
                self._ensure_protection(bracket)
            elif bracket.state is S.CLOSING:
                # A sweep caught this entry in flight: the fill must be closed, not protected.
                self._book.spawn(self._closer.close(bracket), f"close-{bracket.id}")
            else:
                self._book.count_error()
                log.error(
                    "%s: entry filled after the bracket was given up (%s); closing it",
                    bracket.id,
                    bracket.state,
                    extra={"symbol": bracket.symbol},
                )
                self._book.spawn(self._closer.close_orphan(bracket, update), f"orphan-{bracket.id}")
        elif update.status.is_final and update.filled_qty <= 0 and bracket.state is S.PENDING_ENTRY:
            self._entry_failed(bracket, f"entry {update.status} {update.reason}".strip())

    def _on_leg(self, bracket: Bracket, leg: Leg, update: OrderUpdate) -> None:
        current = bracket.leg_client_id(leg) == update.client_id
        status = update.status
        if leg is Leg.TP or leg is Leg.SL:
            self._closer.note_leg(update.client_id, status)
        if status is OrderStatus.NEW:
            if not current or bracket.state not in _OPEN:
                # A leg acknowledged after its bracket moved on: it must not outlive the bracket.
                if bracket.state in (S.CLOSING, S.CLOSED, S.PROTECT_FAILED) and leg in (Leg.TP, Leg.SL):
                    self._book.spawn(
                        self._closer.cancel_stray(bracket, update.client_id), f"cancel-{update.client_id}"
                    )
                return
            if leg is Leg.TP:
                bracket.tp_acked = True
            elif leg is Leg.SL:
                bracket.sl_acked = True
            if bracket.state is S.OPEN_UNPROTECTED and bracket.tp_acked and bracket.sl_acked:
                self._book.move(bracket, S.PROTECTED)
            return
        if status in (OrderStatus.TRIGGERED, OrderStatus.PARTIALLY_FILLED) or (
            status is OrderStatus.FILLED or (status.is_final and update.filled_qty > 0)
        ):
            self._on_exit_progress(bracket, leg, update)
            return
        # CANCELED / EXPIRED / REJECTED with nothing filled.
        if leg is Leg.CLOSE or not current:
            return
        if bracket.state in _OPEN:
            # Never leave a position without its stop: put the leg back. During a sweep the position is being
            # closed; if it cannot be, the sweep puts the leg back when it ends (`resume_protection`).
            log.warning(
                "%s: %s leg %s %s; %s",
                bracket.id,
                leg.name,
                update.client_id,
                status,
                "put back after the sweep" if self._book.is_sweeping else "re-placing it",
                extra={"symbol": bracket.symbol},
            )
            if leg is Leg.TP:
                bracket.tp_acked = False
                bracket.tp_generation += 1
            else:
                bracket.sl_acked = False
                bracket.sl_generation += 1
            if bracket.state is S.PROTECTED:
                self._book.move(bracket, S.OPEN_UNPROTECTED)
            if self._book.is_sweeping:
                return
            if max(bracket.tp_generation, bracket.sl_generation) >= MAX_LEG_GENERATIONS:
                why = f"{leg.name} leg cancelled {MAX_LEG_GENERATIONS} times"
                self._book.spawn(self._placer.give_up(bracket, why), f"protect-failed-{bracket.id}")
            else:
                self._ensure_protection(bracket)

    def _on_exit_progress(self, bracket: Bracket, leg: Leg, update: OrderUpdate) -> None:
        """A TP/SL leg triggered or filled, or our closing order filled."""
        # Only the sweep closes a bracket that is still open; every other close starts from a given-up state.
        reason = {Leg.TP: CloseReason.TP, Leg.SL: CloseReason.SL, Leg.CLOSE: CloseReason.SWEEP}.get(leg)
        if bracket.state in _OPEN:
            self._book.move(bracket, S.CLOSING, reason)
        elif bracket.state is S.PROTECT_FAILED:
            self._book.move(bracket, S.CLOSING)
        if not bracket.is_active:
            return
        if update.filled_qty > 0 and update.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
            exit_price = update.avg_price or update.last_price
            bracket.exit_price = exit_price
            bracket.realized_pnl = (exit_price - bracket.entry_price) * update.filled_qty * bracket.side.sign
        if update.status is OrderStatus.FILLED or (update.status.is_final and update.filled_qty > 0):
            self._book.spawn(self._closer.finish(bracket, update.client_id), f"finish-{bracket.id}")

    # -- protection -------------------------------------------------------------------------------------

    def resume_protection(self) -> None:
        """Put back the legs of every open bracket that lacks one (after a sweep that left positions)."""
        for bracket in self._book.active:
            if bracket.state is S.OPEN_UNPROTECTED and bracket.has_entry_fill:
                self._ensure_protection(bracket)

    def _ensure_protection(self, bracket: Bracket) -> None:
        if bracket.id in self._protecting:
            return
        bid = bracket.id
        task = self._book.spawn(self._placer.protect(bracket), f"protect-{bid}")
        self._protecting[bid] = task

        def forget(_: asyncio.Task[Any]) -> None:
            self._protecting.pop(bid, None)

        task.add_done_callback(forget)

    # -- sweep and reconcile ----------------------------------------------------------------------------

    async def sweep(self) -> SweepResult:
        """Emergency sweep (see `Sweeper.run`), then the legs it found dropped go back on what is left."""
        result = await self._sweeper.run()
        self.resume_protection()
        return result

    async def protect(self, bracket: Bracket) -> bool:
        """Place the legs an OPEN_UNPROTECTED bracket lacks (SL first) and wait; True if it ends PROTECTED.

        As for a new bracket, a leg that cannot be placed closes the position.
        """
        if bracket.state is S.OPEN_UNPROTECTED:
            self._ensure_protection(bracket)
            task = self._protecting.get(bracket.id)
            if task is not None:
                await asyncio.wait({task})
        return bracket.is_protected

    async def mark_closed(
        self, bracket: Bracket, reason: CloseReason, filled_client_id: str | None = None
    ) -> bool:
        """Close a bracket whose position is gone from the exchange (see `BracketCloser.mark_closed`)."""
        return await self._closer.mark_closed(bracket, reason, filled_client_id)
