"""OCOManager: opens a bracket per decision, keeps its stop on the exchange and closes it.

Exchange events arrive in any order with respect to REST answers (a fill can beat its acknowledgement), so
every update goes through the same idempotent handlers whether it came from a REST ack or the user stream.
Work that must await (placing legs, cancelling a sibling, closing) runs in tasks the manager tracks.
The emergency sweep lives in `sweep.py`; reconcile (`reconcile.py`) uses the adopt/protect/mark-closed
primitives at the end of the class.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from casino_tui.config import TradingConfig
from casino_tui.control import SweepResult
from casino_tui.engine.brackets import Bracket, BracketState, CloseReason, Leg, bracket_id, client_id
from casino_tui.engine.clock import Clock
from casino_tui.engine.crashpoints import crash_point
from casino_tui.engine.executor import SEND_FAILURES, OrderExecutor, UnresolvedOrderError
from casino_tui.engine.positions import PositionTracker
from casino_tui.engine.sweep import Sweeper
from casino_tui.exchange.base import ExchangeError, RejectedError
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
        sweep_rounds: int = 5,
        close_attempts: int = 3,
        on_transition: TransitionHook | None = None,
    ) -> None:
        self._executor = executor
        self._rules = rules
        self._config = config
        self._clock = clock
        self._tracker = tracker
        self.next_bracket_seq = next_bracket_seq
        self._close_attempts = close_attempts
        self._on_transition = on_transition
        self._active: dict[str, Bracket] = {}
        self._closed: deque[Bracket] = deque()
        self._max_closed = max_closed
        self._by_client: dict[str, tuple[Bracket, Leg]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._protecting: dict[str, asyncio.Task[None]] = {}
        self._finishing: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Set by the Sweeper while it runs: no new entries may open behind its back.
        self.is_sweeping = False
        self._sweeper = Sweeper(self, executor, rules, clock, rounds=sweep_rounds)
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
            self._on_entry(bracket, ack)
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
        applied = self._tracker.on_fill(update)
        found = self._by_client.get(update.client_id)
        if found is None:
            return
        bracket, leg = found
        if applied > 0:
            bracket.fees += update.fee
        if leg is Leg.ENTRY:
            self._on_entry(bracket, update, counted=True)
        else:
            self._on_leg(bracket, leg, update, counted=True)

    def on_account_update(self, update: AccountUpdate) -> None:
        """A position that went flat while its bracket was closing settles the bracket."""
        for pos in update.positions:
            bracket = self._active.get(pos.symbol)
            if bracket is not None and pos.qty == 0 and bracket.state is S.CLOSING and bracket.has_entry_fill:
                self._spawn(self._finish(bracket, None), f"finish-{bracket.id}")

    def _on_entry(self, bracket: Bracket, update: OrderUpdate, counted: bool = False) -> None:
        if not counted:
            if self._tracker.on_fill(update) > 0:
                bracket.fees += update.fee
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
                self._spawn(self._close(bracket), f"close-{bracket.id}")
            else:
                self.errors += 1
                log.error(
                    "%s: entry filled after the bracket was given up (%s); closing it",
                    bracket.id,
                    bracket.state,
                    extra={"symbol": bracket.symbol},
                )
                self._spawn(self._close_orphan(bracket, update), f"orphan-{bracket.id}")
        elif update.status.is_final and update.filled_qty <= 0 and bracket.state is S.PENDING_ENTRY:
            self._entry_failed(bracket, f"entry {update.status} {update.reason}".strip())

    def _on_leg(self, bracket: Bracket, leg: Leg, update: OrderUpdate, counted: bool = False) -> None:
        if not counted:
            if self._tracker.on_fill(update) > 0:
                bracket.fees += update.fee
        current = bracket.leg_client_id(leg) == update.client_id
        status = update.status
        if status is OrderStatus.NEW:
            if not current or bracket.state not in _OPEN:
                # A leg acknowledged after its bracket moved on: it must not outlive the bracket.
                if bracket.state in (S.CLOSING, S.CLOSED, S.PROTECT_FAILED) and leg in (Leg.TP, Leg.SL):
                    self._spawn(self._cancel_quietly(bracket, update.client_id), f"cancel-{update.client_id}")
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
            # Never leave a position without its stop: put the leg back.
            log.warning(
                "%s: %s leg %s %s; re-placing it",
                bracket.id,
                leg.name,
                update.client_id,
                status,
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
            if max(bracket.tp_generation, bracket.sl_generation) >= MAX_LEG_GENERATIONS:
                why = f"{leg.name} leg cancelled {MAX_LEG_GENERATIONS} times"
                self._spawn(self._protection_failed(bracket, why), f"protect-failed-{bracket.id}")
            else:
                self._ensure_protection(bracket)

    def _on_exit_progress(self, bracket: Bracket, leg: Leg, update: OrderUpdate) -> None:
        """A TP/SL leg triggered or filled, or our closing order filled."""
        reason = {Leg.TP: CloseReason.TP, Leg.SL: CloseReason.SL}.get(leg)
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
            self._spawn(self._finish(bracket, update.client_id), f"finish-{bracket.id}")

    # -- protection -------------------------------------------------------------------------------------

    def _ensure_protection(self, bracket: Bracket) -> None:
        if bracket.id in self._protecting:
            return
        task = self._spawn(self._protect(bracket), f"protect-{bracket.id}")
        self._protecting[bracket.id] = task
        task.add_done_callback(lambda _t, bid=bracket.id: self._protecting.pop(bid, None))

    async def _protect(self, bracket: Bracket) -> None:
        """Place whatever legs are missing, SL first; a leg that cannot be placed closes the position."""
        rules = self._rules[bracket.symbol]
        sign = bracket.side.sign
        bracket.tp_price = rules.snap_price(bracket.entry_price * (1 + sign * self._config.take_profit_pct))
        bracket.sl_price = rules.snap_price(bracket.entry_price * (1 - sign * self._config.stop_loss_pct))
        crash_point("after_entry_fill")
        while bracket.state is S.OPEN_UNPROTECTED and not (bracket.sl_acked and bracket.tp_acked):
            leg = Leg.SL if not bracket.sl_acked else Leg.TP
            if leg is Leg.SL:
                bracket.sl_client_id = client_id(bracket.seq, Leg.SL, bracket.sl_generation, bracket.symbol)
                cid, kind, trigger = bracket.sl_client_id, OrderType.STOP_MARKET, bracket.sl_price
            else:
                bracket.tp_client_id = client_id(bracket.seq, Leg.TP, bracket.tp_generation, bracket.symbol)
                cid, kind, trigger = bracket.tp_client_id, OrderType.TAKE_PROFIT_MARKET, bracket.tp_price
            self._by_client[cid] = (bracket, leg)
            request = OrderRequest(
                bracket.symbol,
                bracket.side.opposite,
                kind,
                bracket.qty,
                cid,
                close_position=True,
                trigger_price=trigger,
            )
            try:
                ack = await self._executor.place(request)
            except SEND_FAILURES as exc:
                await self._protection_failed(bracket, f"{leg.name} leg {cid} failed: {exc}")
                return
            self._on_leg(bracket, leg, ack)
            if leg is Leg.SL:
                crash_point("between_sl_tp")
            if bracket.state is S.OPEN_UNPROTECTED and bracket.leg_client_id(leg) == cid:
                acked = bracket.sl_acked if leg is Leg.SL else bracket.tp_acked
                if not acked and ack.status not in (
                    OrderStatus.NEW,
                    OrderStatus.TRIGGERED,
                    OrderStatus.FILLED,
                ):
                    await self._protection_failed(bracket, f"{leg.name} leg {cid} came back {ack.status}")
                    return

    async def _protection_failed(self, bracket: Bracket, why: str) -> None:
        if bracket.state is not S.OPEN_UNPROTECTED:
            return
        self.errors += 1
        bracket.note = why
        log.error(
            "%s: protection failed (%s); closing the position",
            bracket.id,
            why,
            extra={"symbol": bracket.symbol},
        )
        self.move(bracket, S.PROTECT_FAILED, CloseReason.PROTECT_FAILED)
        self.move(bracket, S.CLOSING)
        await self._close(bracket)

    # -- closing ----------------------------------------------------------------------------------------

    async def _close(self, bracket: Bracket) -> None:
        """Close the bracket's position with a reduce-only market order (before touching its legs)."""
        rules = self._rules[bracket.symbol]
        for attempt in range(self._close_attempts):
            qty = rules.snap_qty(abs(self._tracker.qty(bracket.symbol)) or bracket.qty)
            bracket.close_client_id = client_id(
                bracket.seq, Leg.CLOSE, bracket.close_generation, bracket.symbol
            )
            bracket.close_generation += 1
            self._by_client[bracket.close_client_id] = (bracket, Leg.CLOSE)
            request = OrderRequest(
                bracket.symbol,
                bracket.side.opposite,
                OrderType.MARKET,
                qty,
                bracket.close_client_id,
                reduce_only=True,
            )
            try:
                ack = await self._executor.place(request)
            except RejectedError as exc:
                # A reduce-only order rejected for want of a position: already flat.
                log.warning("%s: close rejected (%s)", bracket.id, exc, extra={"symbol": bracket.symbol})
                if not self._tracker.has_position(bracket.symbol):
                    await self._finish(bracket, None)
                    return
            except SEND_FAILURES as exc:
                log.warning("%s: close attempt %d failed: %s", bracket.id, attempt + 1, exc)
            else:
                self._on_leg(bracket, Leg.CLOSE, ack)
                if ack.status is OrderStatus.FILLED or ack.status is OrderStatus.NEW:
                    return
            await self._executor.sleep(self._executor.backoff_delay(attempt))
        self.errors += 1
        log.critical(
            "%s: could not close the position; reconcile needed", bracket.id, extra={"symbol": bracket.symbol}
        )

    async def _close_orphan(self, bracket: Bracket, update: OrderUpdate) -> None:
        bracket.close_generation += 1
        cid = client_id(bracket.seq, Leg.CLOSE, bracket.close_generation, bracket.symbol)
        request = OrderRequest(
            bracket.symbol, update.side.opposite, OrderType.MARKET, update.filled_qty, cid, reduce_only=True
        )
        await self._executor.place(request)

    async def _finish(self, bracket: Bracket, filled_client_id: str | None) -> None:
        """Cancel every other leg (-2011 is fine), then CLOSED. The bracket holds its symbol until then,
        so a stale close-position leg can never act on the symbol's next position."""
        if bracket.id in self._finishing or not bracket.is_active:
            return
        self._finishing.add(bracket.id)
        try:
            pending = [
                cid for cid in (bracket.tp_client_id, bracket.sl_client_id) if cid and cid != filled_client_id
            ]
            for attempt in range(self._close_attempts):
                failed = []
                for cid in pending:
                    try:
                        await self._executor.cancel(bracket.symbol, cid, conditional=True)
                    except ExchangeError as exc:
                        log.warning(
                            "%s: cancelling %s failed: %s",
                            bracket.id,
                            cid,
                            exc,
                            extra={"symbol": bracket.symbol},
                        )
                        failed.append(cid)
                pending = failed
                if not pending:
                    break
                await self._executor.sleep(self._executor.backoff_delay(attempt))
            if pending:
                self.errors += 1
                log.error(
                    "%s: legs %s still live; reconcile needed",
                    bracket.id,
                    pending,
                    extra={"symbol": bracket.symbol},
                )
            elif bracket.is_active:
                self.move(bracket, S.CLOSED, bracket.close_reason or CloseReason.RECONCILED)
        finally:
            self._finishing.discard(bracket.id)

    async def _cancel_quietly(self, bracket: Bracket, cid: str) -> None:
        try:
            await self._executor.cancel(bracket.symbol, cid, conditional=True)
        except ExchangeError as exc:
            self.errors += 1
            log.error(
                "%s: stray leg %s not cancelled: %s", bracket.id, cid, exc, extra={"symbol": bracket.symbol}
            )

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
        await self._finish(bracket, filled_client_id)
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
