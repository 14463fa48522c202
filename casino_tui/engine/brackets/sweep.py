"""Emergency sweep (DESIGN.md §6): flatten the account and have the exchange confirm it.

Each round reads the open orders and the positions, cancels every order that is not a live position's stop
or take-profit, closes every position with a reduce-only market order (at most 5 at once) and, once a close
has filled, cancels what still guarded that position. Rounds repeat, with backoff after a failure, until a
read shows no position and no open order, or the rounds run out; a position that shows up in a later read
is closed like the others. Stops come off only after their position is gone, so a close that cannot reach
the exchange leaves the position protected and its bracket as it was; the result says why it is left.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

import msgspec

from casino_tui.clock import Clock
from casino_tui.control import SweepResult
from casino_tui.engine.brackets.book import BracketBook
from casino_tui.engine.brackets.closing import BracketCloser
from casino_tui.engine.brackets.machine import Leg, client_id
from casino_tui.engine.executor import SEND_FAILURES, OrderExecutor
from casino_tui.model import (
    BracketState,
    CloseReason,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    SymbolRules,
)
from casino_tui.port import ExchangeError, RejectedError

log = logging.getLogger("casino.oco")

SWEEP_CONCURRENCY = 5  # reduce-only closes in flight at once (DESIGN.md §6)


class ExchangeBook(msgspec.Struct, frozen=True):
    """One read of the exchange: open plain and conditional orders, and the non-zero positions by symbol."""

    orders: tuple[OrderUpdate, ...]
    positions: dict[str, Position]

    @property
    def is_flat(self) -> bool:
        return not self.orders and not self.positions

    def guards(self, order: OrderUpdate) -> bool:
        """Whether `order` is a conditional order closing a live position (its stop or take-profit)."""
        position = self.positions.get(order.symbol)
        return (
            position is not None
            and order.is_conditional
            and order.side is position.side.opposite
            and (order.close_position or order.reduce_only)
        )


class _Tally(msgspec.Struct, kw_only=True):
    """What one sweep has done so far and why what is left is left."""

    cancelled: int = 0
    seen: set[str] = msgspec.field(default_factory=set)  # symbols any read showed with a position
    close_failures: dict[str, str] = msgspec.field(default_factory=dict)  # symbol -> why its close failed
    cancel_failures: dict[str, str] = msgspec.field(default_factory=dict)  # client id -> why it stayed
    read_error: str = ""
    failed: bool = False  # something failed in the current round: back off before the next one


class Sweeper:
    """Runs emergency sweeps over the book's brackets; no entry opens while a sweep runs.

    The brackets' own legs are cancelled by `closer` once their position is closed; `on_update` is the
    OCOManager's order handler, which every answer the sweep gets goes through.
    """

    def __init__(
        self,
        book: BracketBook,
        executor: OrderExecutor,
        closer: BracketCloser,
        rules: dict[str, SymbolRules],
        clock: Clock,
        on_update: Callable[[OrderUpdate], None],
        *,
        rounds: int = 8,
    ) -> None:
        self._book = book
        self._executor = executor
        self._closer = closer
        self._on_update = on_update
        self._rules = rules
        self._clock = clock
        self._rounds = rounds
        self._sweeps = 0

    async def run(self) -> SweepResult:
        """Close every position and cancel every order, round after round, until the exchange reads flat."""
        self._sweeps += 1
        closer_cancels = self._closer.cancelled
        tally = _Tally()
        with self._book.sweeping():
            # Let entries already in flight finish, so nothing opens behind the sweep's back.
            await self._book.wait_entries()
            final, last = await self._rounds_until_flat(tally)
            tally.cancelled += self._closer.cancelled - closer_cancels
            if final is not None:
                await self._retire_gone(final)
        result = self._result(final, last, tally)
        (log.warning if result.is_flat else log.error)("sweep: %s", result.message)
        return result

    async def _rounds_until_flat(self, tally: _Tally) -> tuple[ExchangeBook | None, ExchangeBook | None]:
        """(the final read, or None if it failed; the last read that succeeded)."""
        semaphore = asyncio.Semaphore(SWEEP_CONCURRENCY)
        last: ExchangeBook | None = None
        for round_no in range(self._rounds + 1):
            tally.failed = False
            book = await self._read(tally)
            if book is not None:
                last = book
                tally.seen.update(book.positions)
                if book.is_flat or round_no == self._rounds:
                    return book, last
                await self._act(book, semaphore, round_no, tally)
            elif round_no == self._rounds:
                return None, last
            if tally.failed:
                await self._executor.sleep(self._executor.backoff_delay(round_no))
        raise AssertionError("unreachable")

    async def _read(self, tally: _Tally) -> ExchangeBook | None:
        exchange = self._executor.exchange
        try:
            # Orders before positions: a leg that fills between the two reads leaves no position behind.
            orders = await self._executor.query(exchange.open_orders)
            positions = await self._executor.query(exchange.positions)
        except ExchangeError as exc:
            self._book.count_error()
            tally.read_error, tally.failed = f"the exchange could not be read: {exc}", True
            log.error("sweep: the exchange could not be read: %s", exc)
            return None
        tally.read_error = ""
        return ExchangeBook(tuple(orders), {p.symbol: p for p in positions if p.qty != 0})

    async def _act(
        self, book: ExchangeBook, semaphore: asyncio.Semaphore, round_no: int, tally: _Tally
    ) -> None:
        """One round: cancel what does not guard a position, close every position, then free its guards."""
        strays = [o for o in book.orders if not book.guards(o)]
        tally.cancelled += sum(await asyncio.gather(*(self._cancel(o, semaphore, tally) for o in strays)))
        # A bracket's own legs are cancelled by its closer once the close fills; anything else by the sweep.
        owned = {cid for b in self._book.active for cid in (b.tp_client_id, b.sl_client_id) if cid}
        symbols = list(book.positions)
        filled = await asyncio.gather(
            *(self._close(book.positions[s], semaphore, round_no, tally) for s in symbols)
        )
        flat = {s for s, ok in zip(symbols, filled, strict=True) if ok}
        guards = [o for o in book.orders if o.symbol in flat and book.guards(o) and o.client_id not in owned]
        tally.cancelled += sum(await asyncio.gather(*(self._cancel(o, semaphore, tally) for o in guards)))
        # The next read must see what the closers did with the legs.
        await self._book.wait_idle()

    async def _cancel(self, order: OrderUpdate, semaphore: asyncio.Semaphore, tally: _Tally) -> int:
        async with semaphore:
            try:
                done = await self._executor.cancel(order.symbol, order.client_id, order.is_conditional)
            except ExchangeError as exc:
                self._book.count_error()
                tally.failed = True
                why = f"{order.symbol}: order {order.client_id} not cancelled: {exc}"
                tally.cancel_failures[order.client_id] = why
                log.error("sweep: cancel %s failed: %s", order.client_id, exc, extra={"symbol": order.symbol})
                return 0
        tally.cancel_failures.pop(order.client_id, None)
        # The brackets learn their legs are gone, so closing them does not cancel the legs a second time.
        if done is not None:
            self._on_update(done)
        elif self._book.route(order.client_id) is not None:
            self._closer.note_leg(order.client_id, OrderStatus.CANCELED)  # -2011: the order is gone
        return 1 if done is not None else 0

    async def _close(
        self, position: Position, semaphore: asyncio.Semaphore, round_no: int, tally: _Tally
    ) -> bool:
        """Send one reduce-only market close; True once the exchange says it filled."""
        symbol = position.symbol
        bracket = self._book.bracket_for(symbol)
        if bracket is not None:
            cid = client_id(bracket.seq, Leg.CLOSE, bracket.close_generation, symbol)
            bracket.close_generation += 1
            bracket.close_client_id = cid
            self._book.register(cid, bracket, Leg.CLOSE)
        else:
            # A position no bracket knows: the id only has to be unique and valid.
            digest = hashlib.blake2s(symbol.encode(), digest_size=4).hexdigest()
            cid = f"cx{self._clock.now_ms()}{self._sweeps % 10}{round_no}{digest}"
        rules = self._rules.get(symbol)
        qty = rules.snap_qty(abs(position.qty)) if rules is not None else abs(position.qty)
        request = OrderRequest(symbol, position.side.opposite, OrderType.MARKET, qty, cid, reduce_only=True)
        async with semaphore:
            try:
                ack = await self._executor.place(request)
            except RejectedError as exc:
                # Usually -2022: the position went flat meanwhile; the next read tells.
                tally.failed = True
                tally.close_failures[symbol] = f"{symbol}: close rejected: {exc}"
                log.warning("sweep: close rejected: %s", exc, extra={"symbol": symbol})
                return False
            except SEND_FAILURES as exc:
                self._book.count_error()
                tally.failed = True
                tally.close_failures[symbol] = f"{symbol}: close did not reach the exchange: {exc}"
                log.error("sweep: close did not reach the exchange: %s", exc, extra={"symbol": symbol})
                return False
        self._on_update(ack)
        if ack.status is OrderStatus.FILLED:
            tally.close_failures.pop(symbol, None)
            return True
        tally.failed = True
        tally.close_failures[symbol] = f"{symbol}: close came back {ack.status}"
        return False

    async def _retire_gone(self, book: ExchangeBook) -> None:
        """Brackets whose symbol the final read shows with no position and no order are closed."""
        busy = set(book.positions) | {o.symbol for o in book.orders}
        for bracket in self._book.active:
            # A pending entry needs a lookup, not a guess: reconcile settles it.
            if bracket.symbol not in busy and bracket.state is not BracketState.PENDING_ENTRY:
                await self._closer.mark_closed(bracket, bracket.close_reason or CloseReason.SWEEP)

    def _result(self, final: ExchangeBook | None, last: ExchangeBook | None, tally: _Tally) -> SweepResult:
        # When the final read failed, what is left is what the last good read showed.
        book = final if final is not None else last
        if book is not None:
            remaining, orders = tuple(sorted(book.positions)), book.orders
        else:
            remaining, orders = tuple(sorted(b.symbol for b in self._book.active if b.has_entry_fill)), ()
        orders_left = len(orders)
        is_flat = final is not None and final.is_flat
        reasons = [
            tally.close_failures.get(s) or f"{s}: still open after {self._rounds} rounds" for s in remaining
        ]
        reasons += [
            tally.cancel_failures[o.client_id] for o in orders if o.client_id in tally.cancel_failures
        ]
        if tally.read_error:
            reasons.append(tally.read_error)
        closed = len(tally.seen - set(remaining))
        parts = [f"{tally.cancelled} orders cancelled", f"{closed} positions closed"]
        if remaining:
            parts.append("still open: " + ", ".join(remaining))
        if orders_left:
            parts.append(f"{orders_left} orders left")
        if final is None:
            parts.append("not verified")
        message = ("flat: " if is_flat else "NOT flat: ") + "; ".join(parts)
        if reasons:
            message += " (" + "; ".join(reasons) + ")"
        return SweepResult(
            cancelled_orders=tally.cancelled,
            closed_positions=closed,
            remaining_positions=remaining,
            is_flat=is_flat,
            message=message,
            orders_left=orders_left,
            reasons=tuple(reasons),
        )
