"""The exit check: what the exchange confirms about every open position before the process goes.

Shutdown promises only what this found. A position counts as protected when the exchange holds an open
stop-loss that would close all of it; a missing take-profit is reported, but a stop is what protects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec

from casino_tui.clock import Clock
from casino_tui.engine.brackets.machine import Bracket
from casino_tui.engine.brackets.sweep import ExchangeBook
from casino_tui.engine.executor import OrderExecutor
from casino_tui.model import OrderType, OrderUpdate, Position
from casino_tui.port import ExchangeError

if TYPE_CHECKING:
    from casino_tui.engine.croupier import Croupier
    from casino_tui.engine.reconcile import ReconcileJournal

log = logging.getLogger("casino.runtime")


class GuardedPosition(msgspec.Struct, frozen=True):
    """One position on the exchange and which of its exits the exchange holds."""

    symbol: str
    qty: float
    has_stop: bool
    has_take_profit: bool

    def describe(self) -> str:
        return f"{self.symbol} {'LONG' if self.qty > 0 else 'SHORT'} {abs(self.qty):.10g}"


class ExitCheck(msgspec.Struct, frozen=True):
    """The exchange's answer at exit; with `error` set it could not be read and nothing is verified."""

    positions: tuple[GuardedPosition, ...] = ()
    open_orders: int = 0
    error: str = ""

    @property
    def is_verified(self) -> bool:
        return not self.error

    @property
    def is_flat(self) -> bool:
        return self.is_verified and not self.positions and not self.open_orders

    @property
    def unprotected(self) -> tuple[GuardedPosition, ...]:
        return tuple(p for p in self.positions if not p.has_stop)


def _covers(order: OrderUpdate, position: Position) -> bool:
    return order.close_position or order.quantity >= abs(position.qty) * (1 - 1e-9)


def guard(book: ExchangeBook, position: Position) -> GuardedPosition:
    """Which exits of `position` the exchange holds among `book`'s open orders."""
    exits = [
        o for o in book.orders if book.guards(o) and o.symbol == position.symbol and _covers(o, position)
    ]
    return GuardedPosition(
        symbol=position.symbol,
        qty=position.qty,
        has_stop=any(o.type is OrderType.STOP_MARKET for o in exits),
        has_take_profit=any(o.type is OrderType.TAKE_PROFIT_MARKET for o in exits),
    )


async def check_exit(executor: OrderExecutor) -> ExitCheck:
    """Read open orders and positions from the exchange and say which positions hold their stop."""
    exchange = executor.exchange
    try:
        orders = await executor.query(exchange.open_orders)
        positions = await executor.query(exchange.positions)
    except ExchangeError as exc:
        return ExitCheck(error=f"the exchange could not be read: {exc}")
    book = ExchangeBook(tuple(orders), {p.symbol: p for p in positions if p.qty != 0})
    guarded = tuple(guard(book, p) for _, p in sorted(book.positions.items()))
    return ExitCheck(positions=guarded, open_orders=len(orders))


async def secure_exit(
    croupier: Croupier, clock: Clock, *, deadline_s: float, journal: ReconcileJournal | None = None
) -> ExitCheck:
    """Check; if a position lacks its stop, put stops back (reconcile, applied) and check again.

    Bounded by `deadline_s`: past it nothing is verified.
    """
    from casino_tui.engine.reconcile import reconcile

    async def check_and_repair() -> ExitCheck:
        check = await check_exit(croupier.executor)
        if not check.unprotected:
            return check
        names = ", ".join(p.symbol for p in check.unprotected)
        log.error(
            "%d positions lack their stop-loss on the exchange (%s): putting stops back",
            len(check.unprotected),
            names,
        )
        try:
            await reconcile(croupier.exchange, croupier, clock, apply=True, journal=journal)
        except ExchangeError as exc:
            log.error("stops not put back: %s", exc)
        return await check_exit(croupier.executor)

    try:
        return await asyncio.wait_for(check_and_repair(), deadline_s)
    except TimeoutError:
        return ExitCheck(error=f"no answer from the exchange within {deadline_s:g}s")


def unprotected_lines(check: ExitCheck, held: Iterable[Bracket]) -> list[str]:
    """One line per position without a confirmed stop-loss; when the exchange could not be read, every
    position the brackets in `held` believe open."""
    if check.is_verified:
        return [f"{p.describe()}: no stop-loss on the exchange" for p in check.unprotected]
    return [
        f"{b.symbol} {'LONG' if b.side.sign > 0 else 'SHORT'} {b.qty:.10g}: stop-loss not verified "
        f"({check.error})"
        for b in held
        if b.has_entry_fill
    ]


def announce_exit(check: ExitCheck, unprotected: list[str]) -> None:
    """Say what the exchange confirmed at exit, and only that; `unprotected` from `unprotected_lines`."""
    if not check.is_verified:
        log.error("shutdown: %s; nothing about positions is verified", check.error)
    elif check.is_flat:
        log.warning("shutdown: flat on the exchange (no position, no open order)")
    for line in unprotected:
        log.critical("UNPROTECTED at exit: %s", line)
    guarded = [p for p in check.positions if p.has_stop]
    if guarded:
        both = all(p.has_take_profit for p in guarded)
        log.warning(
            "shutdown: %d open positions stay protected on the exchange (stop-loss%s confirmed)",
            len(guarded),
            " and take-profit" if both else "",
        )
    for p in guarded:
        if not p.has_take_profit:
            log.warning("shutdown: %s has a stop-loss but no take-profit", p.describe())
    if check.is_verified and not check.positions and check.open_orders:
        log.warning("shutdown: no position, but %d open orders left on the exchange", check.open_orders)
