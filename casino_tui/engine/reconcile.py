"""Reconcile (DESIGN.md §6, §8): compare the exchange's truth with the croupier's brackets, propose one action
per difference, and with `apply` carry the actions out through the OrderExecutor, journaling each one.

- NAKED_POSITION → PROTECT: a managed position lacks its SL (or TP) on the exchange; the missing legs are
  placed again with a new client-id generation. A bracket that stopped managing its position (CLOSING,
  PROTECT_FAILED) while the position lives on is closed and the position adopted into a new bracket.
- UNKNOWN_POSITION → ADOPT: a position no bracket manages gets a new bracket (next seq, the exchange's entry
  price) with fresh TP/SL at entry × (1 ± pct). Conditional orders already on its symbol are cancelled, not
  adopted: Binance allows one close-position stop per direction (-4130), so fresh legs cannot sit beside
  them. For the same reason a symbol's orphan orders are always cancelled before its legs are placed.
- ORPHAN_ORDER → CANCEL: an open order that is no active bracket's current entry, close or leg.
- VANISHED_BRACKET → MARK_CLOSED: a bracket whose position is gone; its live legs are cancelled and it is
  CLOSED with the reason its legs' fills tell (TP, SL), else the reason it was closing for, else RECONCILED.
  A pending entry the exchange does not know (or that ended unfilled) goes ENTRY_REJECTED → CLOSED.
- QTY_MISMATCH → ADOPT (close-position legs: the bracket takes the exchange's size and entry) or PROTECT
  (legs sized by quantity are cancelled and placed again as close-position legs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import msgspec

from casino_tui.clock import Clock
from casino_tui.control import ReconcileItem, ReconcileReport
from casino_tui.engine.brackets.machine import Bracket, Leg
from casino_tui.engine.clientids import parse_client_id
from casino_tui.engine.croupier import Croupier
from casino_tui.engine.journal import Journal
from casino_tui.model import (
    AccountUpdate,
    Balance,
    BracketState,
    CloseReason,
    JournalKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    ReconcileAction,
    ReconcileKind,
    Side,
)
from casino_tui.port import Exchange, ExchangeError

log = logging.getLogger("casino.reconcile")

S = BracketState
Kind, Action = ReconcileKind, ReconcileAction
_MANAGING = (S.OPEN_UNPROTECTED, S.PROTECTED)
# Phases of the actions on one symbol: retire brackets, then cancel orphans, then place legs (see above).
RETIRE, CANCEL, PROTECT = 0, 1, 2


class ReconcileJournal(Protocol):
    """What reconcile needs from the journal (`casino_tui.engine.journal.Journal` has it)."""

    def append(self, kind: JournalKind, payload: Any, *, symbol: str = "", ref: str = "") -> Any: ...


class _Action(msgspec.Struct, kw_only=True):
    """The items one difference produced and the coroutine that fixes them (returns '' or why it failed).

    When `guarded`, `expect` is the bracket the symbol must still have when the action runs (None: no
    bracket), in `expect_state`, so an action planned against state the stream has since changed is skipped
    rather than carried out.
    """

    symbol: str
    phase: int
    items: list[ReconcileItem]
    run: Callable[[], Awaitable[str]]
    guarded: bool = True
    expect: Bracket | None = None
    expect_state: BracketState | None = None


async def reconcile(
    exchange: Exchange,
    croupier: Croupier,
    clock: Clock,
    *,
    apply: bool = False,
    journal: ReconcileJournal | None = None,
) -> ReconcileReport:
    """Diff the exchange (positions, open and conditional orders, balance) against the active brackets.

    With `apply`, carry out every proposed action (each item's `detail` says ok / failed: why) and journal it
    to `journal`, or to the croupier's journal when that one can `append`. Without it nothing changes.
    Raises ExchangeError when the exchange cannot be read at all.
    """
    book, executor = croupier.book, croupier.executor
    # A bracket half-way through opening or protecting is not a difference: let that work finish first.
    await book.wait_entries()
    await croupier.wait_idle()
    # Orders before positions: a leg that fills between the two reads then shows as a vanished bracket
    # (looked up, closed TP/SL), never as a naked position that would get a stop for a position now gone.
    orders = await executor.query(exchange.open_orders)
    positions = {p.symbol: p for p in await executor.query(exchange.positions) if p.qty != 0}
    balance = await executor.query(exchange.balance)
    planner = _Planner(exchange, croupier)
    actions: list[_Action] = []
    symbols = sorted({*positions, *(b.symbol for b in book.active), *(o.symbol for o in orders)})
    for symbol in symbols:
        symbol_orders = [o for o in orders if o.symbol == symbol]
        actions += await planner.plan(symbol, positions.get(symbol), symbol_orders, book.bracket_for(symbol))
    if apply:
        if journal is None and hasattr(croupier.journal, "append"):
            journal = croupier.journal  # type: ignore[assignment]
        items = await _apply(actions, croupier, journal)
        await _sync_tracker(exchange, croupier, clock)
        croupier.count_reconcile(len(items))
    else:
        items = [item for action in actions for item in action.items]
    for item in items:
        log.warning(
            "reconcile %s: %s → %s%s (local: %s; exchange: %s)",
            item.kind,
            item.symbol,
            item.action,
            f" [{item.detail}]" if item.detail else "",
            item.local,
            item.exchange,
            extra={"symbol": item.symbol},
        )
    if not items:
        log.info("reconcile: local state matches the exchange")
    return ReconcileReport(
        ts_ms=clock.now_ms(),
        items=tuple(items),
        positions=len(positions),
        open_orders=sum(1 for o in orders if not o.is_conditional),
        open_conditional_orders=sum(1 for o in orders if o.is_conditional),
        balance=balance.wallet,
    )


async def resolve_unacked(
    exchange: Exchange, journal: Journal, croupier: Croupier, *, after_seq: int = 0
) -> dict[str, OrderUpdate | None]:
    """Restart step: look up by client id every journaled intent that never got an answer (never resend it)
    and feed what the exchange says to the croupier so its brackets move on.

    Returns client id → the exchange's answer; None means the exchange does not know the order (never
    placed): reconcile then closes a bracket still waiting on it.
    """
    entries = await asyncio.to_thread(journal.unacked_intents, after_seq)
    answers: dict[str, OrderUpdate | None] = {}
    for entry in entries:
        try:
            request = msgspec.convert(entry.payload, OrderRequest)
        except msgspec.ValidationError as exc:
            log.error("journal intent %s is unreadable: %s", entry.seq, exc, extra={"symbol": entry.symbol})
            continue
        lookup = partial(exchange.get_order, request.symbol, request.client_id, request.type.is_conditional)
        found = await croupier.executor.query(lookup)
        answers[request.client_id] = found
        log.info(
            "unanswered intent %s: %s",
            request.client_id,
            found.status if found is not None else "unknown to the exchange",
            extra={"symbol": request.symbol},
        )
        if found is not None:
            croupier.on_order_update(found)
    await croupier.wait_idle()
    return answers


# -- planning -----------------------------------------------------------------------------------------------


class _Planner:
    """Turns one symbol's exchange state and bracket into actions; reads the exchange, never writes to it."""

    def __init__(self, exchange: Exchange, croupier: Croupier) -> None:
        self._exchange = exchange
        self._croupier = croupier
        self._oco = croupier.oco

    async def plan(
        self, symbol: str, position: Position | None, orders: list[OrderUpdate], bracket: Bracket | None
    ) -> list[_Action]:
        actions: list[_Action] = []
        # The ids this bracket owns stay off the orphan list: retiring it cancels its live legs itself.
        owned = _owned_ids(bracket)
        entry_fill: OrderUpdate | None = None
        if bracket is not None and bracket.state is S.PENDING_ENTRY:
            try:
                found = await self._lookup(symbol, bracket.entry_client_id, conditional=False)
            except ExchangeError as exc:
                log.warning("entry lookup failed (%s); symbol left alone", exc, extra={"symbol": symbol})
                return []
            if found is not None and not found.status.is_final:
                return []  # the entry is still working: nothing on this symbol is settled yet
            if found is not None and found.filled_qty > 0 and _same_side(position, bracket.side):
                entry_fill = found
            else:
                actions.append(self._entry_vanished(bracket, found))
                bracket = None
        managing = bracket is not None and (bracket.state in _MANAGING or entry_fill is not None)
        if bracket is not None and (
            position is None or (managing and not _same_side(position, bracket.side))
        ):
            actions.append(await self._vanished(bracket, position))
            bracket, managing = None, False
        for order in orders:
            if order.client_id not in owned:
                actions.append(self._orphan(order, bracket))
        if position is None:
            return actions
        if bracket is not None and managing:
            managed = self._managed(bracket, position, orders, entry_fill)
            if managed is not None:
                actions.append(managed)
        else:
            actions.append(self._adopt(position, orders, bracket))
        return actions

    async def _lookup(self, symbol: str, cid: str, conditional: bool) -> OrderUpdate | None:
        exchange = self._exchange
        return await self._croupier.executor.query(lambda: exchange.get_order(symbol, cid, conditional))

    def _entry_vanished(self, bracket: Bracket, found: OrderUpdate | None) -> _Action:
        seen = "unknown to the exchange" if found is None else f"ended {found.status} unfilled"
        if found is not None and found.filled_qty > 0:
            seen = f"filled {found.filled_qty:.10g}, but no {_side_word(bracket.side)} position is left"
        item = ReconcileItem(
            kind=Kind.VANISHED_BRACKET,
            symbol=bracket.symbol,
            local=_describe_bracket(bracket),
            exchange=f"entry {bracket.entry_client_id} {seen}",
            action=Action.MARK_CLOSED,
        )

        async def run() -> str:
            await self._oco.mark_closed(bracket, CloseReason.RECONCILED)
            return ""

        return _Action(
            symbol=bracket.symbol,
            phase=RETIRE,
            items=[item],
            run=run,
            expect=bracket,
            expect_state=bracket.state,
        )

    async def _vanished(self, bracket: Bracket, position: Position | None) -> _Action:
        """The bracket's position is gone (or now points the other way): find out how it ended."""
        fill: OrderUpdate | None = None
        reason = bracket.close_reason or CloseReason.RECONCILED
        for cid, conditional, leg_reason in (
            (bracket.tp_client_id, True, CloseReason.TP),
            (bracket.sl_client_id, True, CloseReason.SL),
            (bracket.close_client_id, False, None),
        ):
            if not cid:
                continue
            try:
                found = await self._lookup(bracket.symbol, cid, conditional)
            except ExchangeError as exc:
                log.warning("lookup of %s failed: %s", cid, exc, extra={"symbol": bracket.symbol})
                continue
            if found is None:
                continue
            if found.filled_qty > 0:
                fill, reason = found, leg_reason or reason
                break
            if found.status is OrderStatus.TRIGGERED and leg_reason is not None:
                reason = leg_reason  # fired; its fill is not known (yet)
                break
        seen = "flat" if position is None else f"{_describe_position(position)} (the other way)"
        if fill is not None:
            exit_price = fill.avg_price or fill.last_price
            seen += f"; {fill.client_id} filled {fill.filled_qty:.10g} @ {exit_price:.10g}"
        item = ReconcileItem(
            kind=Kind.VANISHED_BRACKET,
            symbol=bracket.symbol,
            local=_describe_bracket(bracket),
            exchange=seen,
            action=Action.MARK_CLOSED,
        )

        async def run() -> str:
            if fill is not None and not bracket.exit_price:
                exit_price = fill.avg_price or fill.last_price
                bracket.exit_price = exit_price
                bracket.realized_pnl = (
                    (exit_price - bracket.entry_price) * fill.filled_qty * bracket.side.sign
                )
                bracket.fees += fill.fee
            filled = fill.client_id if fill is not None else None
            if await self._oco.mark_closed(bracket, reason, filled):
                return ""
            return "a leg would not cancel; the bracket stays CLOSING"

        return _Action(
            symbol=bracket.symbol,
            phase=RETIRE,
            items=[item],
            run=run,
            expect=bracket,
            expect_state=bracket.state,
        )

    def _orphan(self, order: OrderUpdate, bracket: Bracket | None) -> _Action:
        owner = "no active bracket owns it"
        cid = parse_client_id(order.client_id)
        if bracket is not None and cid is not None and cid.seq == bracket.seq:
            owner = f"an old leg of {bracket.id}"
        item = ReconcileItem(
            kind=Kind.ORPHAN_ORDER,
            symbol=order.symbol,
            local=owner,
            exchange=_describe_order(order),
            action=Action.CANCEL,
        )
        executor = self._croupier.executor

        async def run() -> str:
            await executor.cancel(order.symbol, order.client_id, order.is_conditional)
            return ""  # None (already gone) is as good as cancelled

        # Unguarded: an order no bracket owns stays an orphan whatever its symbol's bracket does meanwhile.
        return _Action(symbol=order.symbol, phase=CANCEL, items=[item], run=run, guarded=False)

    def _managed(
        self, bracket: Bracket, position: Position, orders: list[OrderUpdate], entry_fill: OrderUpdate | None
    ) -> _Action | None:
        """A bracket that manages a live position: check its size and that its legs are on the exchange."""
        live = {o.client_id: o for o in orders if o.is_conditional}
        legs = {Leg.SL: live.get(bracket.sl_client_id), Leg.TP: live.get(bracket.tp_client_id)}
        qty = abs(position.qty)
        local_qty = entry_fill.filled_qty if entry_fill is not None else bracket.qty
        tol = self._qty_tolerance(bracket.symbol, qty)
        sized = [
            leg
            for leg, o in legs.items()
            if o is not None and not o.close_position and abs(o.quantity - qty) > tol
        ]
        missing = [leg for leg, o in legs.items() if o is None]
        unacked = [
            leg
            for leg, o in legs.items()
            if o is not None and not (bracket.tp_acked if leg is Leg.TP else bracket.sl_acked)
        ]
        items: list[ReconcileItem] = []
        local = _describe_bracket(bracket)
        if abs(qty - local_qty) > tol:
            items.append(
                ReconcileItem(
                    kind=Kind.QTY_MISMATCH,
                    symbol=bracket.symbol,
                    local=f"{local}; qty {local_qty:.10g}",
                    exchange=_describe_position(position)
                    + (
                        f"; legs {', '.join(leg.name for leg in sized)} sized for another qty"
                        if sized
                        else ""
                    ),
                    action=Action.PROTECT if sized else Action.ADOPT,
                )
            )
        if entry_fill is not None or missing:
            lacking = [f"no {'stop-loss' if leg is Leg.SL else 'take-profit'}" for leg in missing]
            seen = _describe_position(position)
            if entry_fill is not None:
                seen = f"entry filled {entry_fill.filled_qty:.10g} @ {entry_fill.avg_price:.10g}; " + seen
            items.append(
                ReconcileItem(
                    kind=Kind.NAKED_POSITION,
                    symbol=bracket.symbol,
                    local=local,
                    exchange=", ".join([seen, *lacking]),
                    action=Action.PROTECT,
                )
            )
        elif unacked or not bracket.is_protected:
            items.append(
                ReconcileItem(
                    kind=Kind.NAKED_POSITION,
                    symbol=bracket.symbol,
                    local=f"{local}; legs not acknowledged",
                    exchange=_describe_position(position) + ", TP and SL live",
                    action=Action.ADOPT,
                )
            )
        if not items:
            return None
        croupier, oco = self._croupier, self._oco

        async def run() -> str:
            if entry_fill is not None:
                croupier.on_order_update(entry_fill)  # the fill we missed: protection starts from it
            if abs(qty - bracket.qty) > tol:
                bracket.qty, bracket.entry_price = qty, position.entry_price
            for leg in unacked:
                order = legs[leg]
                if order is not None and leg not in sized:
                    croupier.on_order_update(order)  # the live leg's NEW acknowledges it
            if entry_fill is None:
                croupier.book.forget_legs(bracket, missing + sized)
                for leg in sized:
                    order = legs[leg]
                    if order is not None:
                        await croupier.executor.cancel(bracket.symbol, order.client_id, conditional=True)
            if await oco.protect(bracket):
                return ""
            return f"not protected: {bracket.note or bracket.state.value}"

        return _Action(
            symbol=bracket.symbol,
            phase=PROTECT,
            items=items,
            run=run,
            expect=bracket,
            expect_state=bracket.state,
        )

    def _adopt(self, position: Position, orders: list[OrderUpdate], stale: Bracket | None) -> _Action:
        """A position no bracket manages; `stale` is a bracket that gave up on it (CLOSING, PROTECT_FAILED)."""
        symbol = position.symbol
        stops = [o for o in orders if o.type is OrderType.STOP_MARKET]
        seen = _describe_position(position)
        seen += f", {len(stops)} stop(s) live" if stops else ", no stop-loss"
        if stale is not None and not stops:
            kind, action = Kind.NAKED_POSITION, Action.PROTECT
        else:
            kind, action = Kind.UNKNOWN_POSITION, Action.ADOPT
        local = "no bracket" if stale is None else f"{_describe_bracket(stale)}, no longer managing it"
        item = ReconcileItem(kind=kind, symbol=symbol, local=local, exchange=seen, action=action)
        oco = self._oco

        async def run() -> str:
            if stale is not None and not await oco.mark_closed(stale, CloseReason.RECONCILED):
                return f"{stale.id}'s legs would not cancel"
            if not await self._ensure_rules(symbol):
                return "no symbol rules for it on the exchange"
            bracket = self._croupier.book.adopt(
                symbol, position.side, abs(position.qty), position.entry_price, "adopted by reconcile"
            )
            if await oco.protect(bracket):
                return ""
            return f"{bracket.id} not protected: {bracket.note or bracket.state.value}"

        return _Action(
            symbol=symbol,
            phase=PROTECT,
            items=[item],
            run=run,
            expect=stale,
            expect_state=stale.state if stale is not None else None,
        )

    async def _ensure_rules(self, symbol: str) -> bool:
        """Symbol rules for a position in a symbol the session does not trade (fetched once, then kept)."""
        rules = self._croupier.rules
        if symbol not in rules:
            fetched = await self._croupier.executor.query(self._exchange.symbol_rules)
            if symbol in fetched:
                rules[symbol] = fetched[symbol]  # the dict the OCOManager shares
        return symbol in rules

    def _qty_tolerance(self, symbol: str, qty: float) -> float:
        rules = self._croupier.rules.get(symbol)
        return float(rules.step_size) / 2 if rules is not None else 1e-9 * max(1.0, qty)


# -- applying -----------------------------------------------------------------------------------------------


async def _apply(
    actions: list[_Action], croupier: Croupier, journal: ReconcileJournal | None
) -> list[ReconcileItem]:
    """Run the actions symbol by symbol under the symbol's lock, phase by phase; journal each result."""
    book = croupier.book
    done: list[ReconcileItem] = []
    by_symbol: dict[str, list[_Action]] = {}
    for action in actions:
        by_symbol.setdefault(action.symbol, []).append(action)
    for symbol, todo in by_symbol.items():
        async with book.symbol_lock(symbol):
            for action in sorted(todo, key=lambda a: a.phase):
                detail = await _run(action, croupier)
                for item in action.items:
                    result = msgspec.structs.replace(item, detail=detail)
                    done.append(result)
                    _journal(journal, result)
    await croupier.wait_idle()
    return done


async def _run(action: _Action, croupier: Croupier) -> str:
    book = croupier.book
    if book.is_sweeping:
        return "skipped: a sweep is running"
    current = book.bracket_for(action.symbol)
    if action.guarded and (
        current is not action.expect or (current is not None and current.state is not action.expect_state)
    ):
        now = f"{current.id} {current.state}" if current is not None else "no bracket"
        return f"skipped: local state changed since the diff ({now})"
    try:
        why = await action.run()
    except Exception as exc:  # one failed action must not stop the others, nor the report
        log.exception("reconcile action failed", extra={"symbol": action.symbol})
        why = str(exc) or type(exc).__name__
    return f"failed: {why}" if why else "ok"


def _journal(journal: ReconcileJournal | None, item: ReconcileItem) -> None:
    if journal is None:
        return
    try:
        journal.append(JournalKind.RECONCILE, item, symbol=item.symbol, ref=item.kind)
    except Exception:
        log.exception("journal write failed", extra={"symbol": item.symbol})


async def _sync_tracker(exchange: Exchange, croupier: Croupier, clock: Clock) -> None:
    """The exchange's positions overwrite the tracker's (after a restart it has none), read after the actions
    so fills they caused are included."""
    executor = croupier.executor
    positions = [p for p in await executor.query(exchange.positions) if p.qty != 0]
    balance: Balance = await executor.query(exchange.balance)
    held = {p.symbol for p in positions}
    flat = tuple(Position(p.symbol, 0.0, 0.0) for p in croupier.tracker.positions() if p.symbol not in held)
    update = AccountUpdate((balance,), (*positions, *flat), "RECONCILE", clock.now_ms())
    croupier.tracker.on_account_update(update)


# -- words --------------------------------------------------------------------------------------------------


def _owned_ids(bracket: Bracket | None) -> frozenset[str]:
    if bracket is None:
        return frozenset()
    ids = (bracket.entry_client_id, bracket.close_client_id, bracket.tp_client_id, bracket.sl_client_id)
    return frozenset(cid for cid in ids if cid)


def _same_side(position: Position | None, side: Side) -> bool:
    return position is not None and position.side is side


def _side_word(side: Side) -> str:
    return "LONG" if side is Side.BUY else "SHORT"


def _describe_bracket(bracket: Bracket) -> str:
    text = f"{bracket.id} {bracket.state.value} {_side_word(bracket.side)} {bracket.qty:.10g}"
    return text + (f" @ {bracket.entry_price:.10g}" if bracket.entry_price else "")


def _describe_position(position: Position) -> str:
    return f"{_side_word(position.side)} {abs(position.qty):.10g} @ {position.entry_price:.10g}"


def _describe_order(order: OrderUpdate) -> str:
    size = "close-position" if order.close_position else f"{order.quantity:.10g}"
    trigger = f" trigger {order.trigger_price:.10g}" if order.trigger_price else ""
    return f"{order.type.value} {order.side.value} {size}{trigger} ({order.client_id})"
