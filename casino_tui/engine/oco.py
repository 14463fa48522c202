"""OCOManager: opens a bracket per decision, keeps its stop on the exchange and closes it.

Exchange events arrive in any order with respect to REST answers (a fill can beat its acknowledgement), so
every update goes through the same idempotent handlers whether it came from a REST ack or the user stream.
Work that must await (placing legs, cancelling a sibling, closing) runs in tasks the manager tracks; the
work itself lives beside it: leg placement in `protection.py`, closing and leg cancels in `closing.py`, the
emergency sweep in `sweep.py`. Reconcile (`reconcile.py`) uses the adopt/protect/mark-closed primitives at
the end of the class.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from casino_tui.clock import Clock
from casino_tui.config import TradingConfig
from casino_tui.control import SweepResult
from casino_tui.engine.brackets import Bracket, BracketState, CloseReason, Leg, bracket_id, client_id
from casino_tui.engine.closing import BracketCloser
from casino_tui.engine.executor import SEND_FAILURES, OrderExecutor, UnresolvedOrderError
from casino_tui.engine.positions import PositionTracker
from casino_tui.engine.protection import LegPlacer
from casino_tui.engine.sweep import Sweeper
from casino_tui.model import (
    AccountUpdate,
    Decision,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    SymbolRules,
)

log = logging.getLogger("casino.oco")

S = BracketState
_OPEN = (S.OPEN_UNPROTECTED, S.PROTECTED)
MAX_LEG_GENERATIONS = 10  # a leg the exchange keeps cancelling is a failure, not something to retry forever

TransitionHook = Callable[[Bracket, BracketState, BracketState], Any]


class OCOManager:
    """Brackets per symbol: market entry, TP/SL as exchange-side conditional orders, one cancels the other."""

    def __init__(
        self,
        executor: OrderExecutor,
        rules: dict[str, SymbolRules],
        config: TradingConfig,
        clock: Clock,
        tracker: PositionTracker,
        *,
        next_bracket_seq: int = 1,
        max_closed: int = 200,
        sweep_rounds: int = 8,
        close_attempts: int = 3,
        on_transition: TransitionHook | None = None,
    ) -> None:
        self._executor = executor
        self._rules = rules
        self._config = config
        self._clock = clock
        self._tracker = tracker
        self.next_bracket_seq = next_bracket_seq
        self._on_transition = on_transition
        self._active: dict[str, Bracket] = {}
        self._closed: deque[Bracket] = deque()
        self._max_closed = max_closed
        self._by_client: dict[str, tuple[Bracket, Leg]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._protecting: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Set by the Sweeper while it runs: no new entries may open behind its back.
        self.is_sweeping = False
        self._sweeper = Sweeper(self, executor, rules, clock, rounds=sweep_rounds)
        self._closer = BracketCloser(self, executor, rules, tracker, attempts=close_attempts)
        self._placer = LegPlacer(self, executor, rules, config, self._closer)
        self.brackets_opened = 0
        self.brackets_closed = 0
        self.errors = 0

    # -- read side --------------------------------------------------------------------------------------

    @property
    def active(self) -> tuple[Bracket, ...]:
        return tuple(self._active.values())

    @property
    def closed(self) -> tuple[Bracket, ...]:
        return tuple(self._closed)

    def bracket_for(self, symbol: str) -> Bracket | None:
        return self._active.get(symbol)

    @property
    def legs_cancelled(self) -> int:
        """TP/SL legs the closer has cancelled so far (the sweep reports its share)."""
        return self._closer.cancelled

    def restore(self, brackets: list[Bracket]) -> None:
        """Manage brackets of a previous run again (state snapshot); closed ones only join the history."""
        for bracket in brackets:
            self.next_bracket_seq = max(self.next_bracket_seq, bracket.seq + 1)
            for leg in Leg:
                cid = bracket.leg_client_id(leg)
                if cid:
                    self._by_client[cid] = (bracket, leg)
            if bracket.is_active:
                self._active[bracket.symbol] = bracket
            else:
                self._closed.append(bracket)

    async def wait_idle(self) -> None:
        """Wait until no background work (leg placement, sibling cancels, closes) is left."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def symbol_lock(self, symbol: str) -> asyncio.Lock:
        """The lock that serialises work on `symbol`; an entry holds it while it is in flight."""
        return self._locks.setdefault(symbol, asyncio.Lock())

    async def wait_entries(self) -> None:
        """Wait until every entry in flight has its answer (each symbol lock is free once)."""
        for lock in list(self._locks.values()):
            async with lock:
                pass

    def register(self, client_id: str, bracket: Bracket, leg: Leg) -> None:
        """Route future updates about `client_id` to `bracket` (call before the order is sent)."""
        self._by_client[client_id] = (bracket, leg)

    # -- opening ----------------------------------------------------------------------------------------

    async def open_bracket(self, decision: Decision, price: float) -> Bracket | None:
        """Open a bracket for `decision` at about `price`; None when skipped (nothing was sent).

        Returns the bracket otherwise, in whatever state the entry and protection left it.
        """
        symbol = decision.symbol
        async with self.symbol_lock(symbol):
            if self.is_sweeping or symbol in self._active or len(self._active) >= self._config.max_positions:
                return None
            rules = self._rules.get(symbol)
            if rules is None:
                log.warning("no symbol rules; skipping decision", extra={"symbol": symbol})
                return None
            qty = rules.qty_for_notional(self._config.notional_usdt, price)
            if qty <= 0:
                log.info("notional below the symbol's filters; skipping", extra={"symbol": symbol})
                return None
            seq = self.next_bracket_seq
            self.next_bracket_seq += 1
            bracket = Bracket(
                id=bracket_id(seq),
                seq=seq,
                symbol=symbol,
                side=decision.side,
                qty=qty,
                entry_client_id=client_id(seq, Leg.ENTRY, 0, symbol),
                created_ms=self._clock.now_ms(),
            )
            self._active[symbol] = bracket
            if self._on_transition is not None:
                # Journal the new bracket before its entry intent, so a restart knows what the intent was for.
                self._on_transition(bracket, bracket.state, bracket.state)
            # Registered before the send: a fill event may arrive before the REST answer does.
            self._by_client[bracket.entry_client_id] = (bracket, Leg.ENTRY)
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
                # wait() rather than await: a failure inside is already logged and counted by _task_done.
                await asyncio.wait({task})
            return bracket

    def _entry_failed(self, bracket: Bracket, why: str) -> None:
        self.errors += 1
        bracket.note = why
        log.warning("%s: %s", bracket.id, why, extra={"symbol": bracket.symbol})
        if bracket.state is S.PENDING_ENTRY:
            self.move(bracket, S.ENTRY_REJECTED, CloseReason.REJECTED)
            self.move(bracket, S.CLOSED)

    # -- exchange events --------------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> None:
        """Route one order update (REST ack or user stream) to its bracket; unknown client ids only count."""
        applied = self._tracker.apply_fill(update)
        found = self._by_client.get(update.client_id)
        if found is None:
            return
        bracket, leg = found
        bracket.fees += applied.fee
        if leg is Leg.ENTRY:
            self._on_entry(bracket, update)
        else:
            self._on_leg(bracket, leg, update)

    def on_cancel_answer(self, client_id: str, answer: OrderUpdate | None) -> None:
        """Feed the answer to a cancel sent outside the manager (the sweep); None (-2011) means the order
        is gone, so no one cancels it again."""
        if answer is not None:
            self.on_order_update(answer)
        elif client_id in self._by_client:
            self._closer.note_leg(client_id, OrderStatus.CANCELED)

    def on_account_update(self, update: AccountUpdate) -> None:
        """A position that went flat while its bracket was closing settles the bracket."""
        for pos in update.positions:
            bracket = self._active.get(pos.symbol)
            settling = bracket is not None and bracket.state in (S.CLOSING, S.PROTECT_FAILED)
            if settling and pos.qty == 0 and bracket.has_entry_fill:
                self._spawn(self._closer.finish(bracket, None), f"finish-{bracket.id}")

    def _on_entry(self, bracket: Bracket, update: OrderUpdate) -> None:
        filled = update.status is OrderStatus.FILLED or (update.status.is_final and update.filled_qty > 0)
        if filled and not bracket.has_entry_fill:
            bracket.qty = update.filled_qty or bracket.qty
            bracket.entry_price = update.avg_price or update.last_price
            bracket.opened_ms = update.ts_ms or self._clock.now_ms()
            if bracket.state is S.PENDING_ENTRY:
                self.brackets_opened += 1
                self.move(bracket, S.OPEN_UNPROTECTED)
                self._ensure_protection(bracket)
            elif bracket.state is S.CLOSING:
                # A sweep caught this entry in flight: the fill must be closed, not protected.
                self._spawn(self._closer.close(bracket), f"close-{bracket.id}")
            else:
                self.errors += 1
                log.error(
                    "%s: entry filled after the bracket was given up (%s); closing it",
                    bracket.id,
                    bracket.state,
                    extra={"symbol": bracket.symbol},
                )
                self._spawn(self._closer.close_orphan(bracket, update), f"orphan-{bracket.id}")
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
                    self._spawn(
                        self._closer.cancel_stray(bracket, update.client_id), f"cancel-{update.client_id}"
                    )
                return
            if leg is Leg.TP:
                bracket.tp_acked = True
            elif leg is Leg.SL:
                bracket.sl_acked = True
            if bracket.state is S.OPEN_UNPROTECTED and bracket.tp_acked and bracket.sl_acked:
                self.move(bracket, S.PROTECTED)
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
                "put back after the sweep" if self.is_sweeping else "re-placing it",
                extra={"symbol": bracket.symbol},
            )
            if leg is Leg.TP:
                bracket.tp_acked = False
                bracket.tp_generation += 1
            else:
                bracket.sl_acked = False
                bracket.sl_generation += 1
            if bracket.state is S.PROTECTED:
                self.move(bracket, S.OPEN_UNPROTECTED)
            if self.is_sweeping:
                return
            if max(bracket.tp_generation, bracket.sl_generation) >= MAX_LEG_GENERATIONS:
                why = f"{leg.name} leg cancelled {MAX_LEG_GENERATIONS} times"
                self._spawn(self._placer.give_up(bracket, why), f"protect-failed-{bracket.id}")
            else:
                self._ensure_protection(bracket)

    def _on_exit_progress(self, bracket: Bracket, leg: Leg, update: OrderUpdate) -> None:
        """A TP/SL leg triggered or filled, or our closing order filled."""
        # Only the sweep closes a bracket that is still open; every other close starts from a given-up state.
        reason = {Leg.TP: CloseReason.TP, Leg.SL: CloseReason.SL, Leg.CLOSE: CloseReason.SWEEP}.get(leg)
        if bracket.state in _OPEN:
            self.move(bracket, S.CLOSING, reason)
        elif bracket.state is S.PROTECT_FAILED:
            self.move(bracket, S.CLOSING)
        if not bracket.is_active:
            return
        if update.filled_qty > 0 and update.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
            exit_price = update.avg_price or update.last_price
            bracket.exit_price = exit_price
            bracket.realized_pnl = (exit_price - bracket.entry_price) * update.filled_qty * bracket.side.sign
        if update.status is OrderStatus.FILLED or (update.status.is_final and update.filled_qty > 0):
            self._spawn(self._closer.finish(bracket, update.client_id), f"finish-{bracket.id}")

    # -- protection -------------------------------------------------------------------------------------

    def resume_protection(self) -> None:
        """Put back the legs of every open bracket that lacks one (after a sweep that left positions)."""
        for bracket in self.active:
            if bracket.state is S.OPEN_UNPROTECTED and bracket.has_entry_fill:
                self._ensure_protection(bracket)

    def _ensure_protection(self, bracket: Bracket) -> None:
        if bracket.id in self._protecting:
            return
        task = self._spawn(self._placer.protect(bracket), f"protect-{bracket.id}")
        self._protecting[bracket.id] = task
        task.add_done_callback(lambda _t, bid=bracket.id: self._protecting.pop(bid, None))

    # -- sweep and reconcile ----------------------------------------------------------------------------

    async def sweep(self) -> SweepResult:
        """Emergency sweep (see `Sweeper.run`)."""
        return await self._sweeper.run()

    def adopt(self, symbol: str, side: Side, qty: float, entry_price: float, note: str) -> Bracket:
        """Take over a position found on the exchange: a new bracket (next seq), OPEN_UNPROTECTED, no legs yet."""
        if symbol in self._active:
            raise ValueError(f"{symbol} already has an active bracket ({self._active[symbol].id})")
        seq = self.next_bracket_seq
        self.next_bracket_seq += 1
        now = self._clock.now_ms()
        bracket = Bracket(
            id=bracket_id(seq),
            seq=seq,
            symbol=symbol,
            side=side,
            qty=qty,
            # Never sent: the position came from elsewhere; the id only keeps the naming scheme.
            entry_client_id=client_id(seq, Leg.ENTRY, 0, symbol),
            entry_price=entry_price,
            created_ms=now,
            opened_ms=now,
            note=note,
        )
        self._active[symbol] = bracket
        self.brackets_opened += 1
        self.move(bracket, S.OPEN_UNPROTECTED)
        return bracket

    def forget_legs(self, bracket: Bracket, legs: Iterable[Leg]) -> None:
        """Treat `legs` as gone from the exchange: updates about their old ids stop moving the bracket and
        the next placement uses a new client-id generation."""
        for leg in legs:
            if leg is Leg.TP:
                if bracket.tp_client_id:
                    bracket.tp_generation += 1
                bracket.tp_client_id, bracket.tp_acked = "", False
            elif leg is Leg.SL:
                if bracket.sl_client_id:
                    bracket.sl_generation += 1
                bracket.sl_client_id, bracket.sl_acked = "", False
        if bracket.state is S.PROTECTED and not (bracket.tp_acked and bracket.sl_acked):
            self.move(bracket, S.OPEN_UNPROTECTED)

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
        """Close a bracket whose position is gone from the exchange: cancel its live legs (all but
        `filled_client_id`), then CLOSED(`reason`). False if a leg would not cancel (it stays CLOSING)."""
        if not bracket.is_active:
            return True
        if bracket.state is S.PENDING_ENTRY:
            self.move(bracket, S.ENTRY_REJECTED, reason)
        if bracket.state is S.ENTRY_REJECTED:
            self.move(bracket, S.CLOSED, reason)
            return True
        if bracket.state is S.CLOSING:
            bracket.close_reason = reason
        else:
            self.move(bracket, S.CLOSING, reason)
        await self._closer.finish(bracket, filled_client_id)
        return not bracket.is_active

    # -- bookkeeping ------------------------------------------------------------------------------------

    def move(self, bracket: Bracket, new: BracketState, reason: CloseReason | None = None) -> None:
        """Move `bracket` along a legal edge (IllegalTransition otherwise); CLOSED retires it from its symbol."""
        old = bracket.state
        bracket.transition(new, reason, self._clock.now_ms())
        if new is S.CLOSED:
            self._retire(bracket)
        if self._on_transition is not None:
            self._on_transition(bracket, old, new)

    def _retire(self, bracket: Bracket) -> None:
        if self._active.get(bracket.symbol) is bracket:
            del self._active[bracket.symbol]
        if bracket.has_entry_fill:
            self.brackets_closed += 1
        self._closed.append(bracket)
        while len(self._closed) > self._max_closed:
            old = self._closed.popleft()
            for cid in [k for k, (b, _) in self._by_client.items() if b is old]:
                del self._by_client[cid]

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors += 1
            log.error("%s failed: %r", task.get_name(), task.exception())
