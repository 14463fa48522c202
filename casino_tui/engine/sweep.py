"""Emergency sweep (DESIGN.md §6): cancel every open order and conditional order, close every position with
reduce-only market orders (at most 5 at once), re-query the exchange until flat, and report what is left.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING

from casino_tui.clock import Clock
from casino_tui.control import SweepResult
from casino_tui.engine.brackets import BracketState, CloseReason, Leg, client_id
from casino_tui.engine.executor import SEND_FAILURES, OrderExecutor
from casino_tui.model import OrderRequest, OrderType, OrderUpdate, Position, SymbolRules
from casino_tui.port import ExchangeError

if TYPE_CHECKING:
    from casino_tui.engine.oco import OCOManager

log = logging.getLogger("casino.oco")

S = BracketState
SWEEP_CONCURRENCY = 5  # reduce-only closes in flight at once (DESIGN.md §6)


class Sweeper:
    """Runs emergency sweeps over one OCOManager's brackets; no entry opens while a sweep runs."""

    def __init__(
        self,
        oco: OCOManager,
        executor: OrderExecutor,
        rules: dict[str, SymbolRules],
        clock: Clock,
        *,
        rounds: int = 5,
    ) -> None:
        self._oco = oco
        self._executor = executor
        self._rules = rules
        self._clock = clock
        self._rounds = rounds
        self._sweeps = 0

    async def run(self) -> SweepResult:
        """Cancel every open order, close every position (≤5 at once), re-query until flat, report leftovers."""
        oco = self._oco
        oco.is_sweeping = True
        self._sweeps += 1
        try:
            # Let entries already in flight finish, so nothing opens behind the sweep's back.
            await oco.wait_entries()
            for bracket in oco.active:
                if bracket.state is not S.CLOSING:
                    if bracket.state is S.PROTECT_FAILED:
                        oco.move(bracket, S.CLOSING)
                    else:
                        oco.move(bracket, S.CLOSING, CloseReason.SWEEP)
            semaphore = asyncio.Semaphore(SWEEP_CONCURRENCY)
            exchange = self._executor.exchange
            cancelled = 0
            initial: set[str] | None = None
            positions: list[Position] = []
            orders: list[OrderUpdate] = []
            for round_no in range(self._rounds):
                orders = await self._executor.query(exchange.open_orders)
                positions = [p for p in await self._executor.query(exchange.positions) if p.qty != 0]
                if initial is None:
                    initial = {p.symbol for p in positions}
                if not orders and not positions:
                    break
                results = await asyncio.gather(*(self._cancel(o, semaphore) for o in orders))
                cancelled += sum(results)
                await asyncio.gather(*(self._close(p, semaphore, round_no) for p in positions))
                await self._executor.sleep(self._executor.backoff_delay(round_no))
            else:
                orders = await self._executor.query(exchange.open_orders)
                positions = [p for p in await self._executor.query(exchange.positions) if p.qty != 0]
            remaining = tuple(sorted({p.symbol for p in positions}))
            for bracket in oco.active:
                if bracket.symbol not in remaining and bracket.state is S.CLOSING:
                    oco.move(bracket, S.CLOSED)
            closed = len((initial or set()) - set(remaining))
            parts = [f"{cancelled} orders cancelled", f"{closed} positions closed"]
            if remaining:
                parts.append("still open: " + ", ".join(remaining))
            if orders:
                parts.append(f"{len(orders)} orders left")
            result = SweepResult(
                cancelled_orders=cancelled,
                closed_positions=closed,
                remaining_positions=remaining,
                is_flat=not remaining,
                message=("flat: " if not remaining else "NOT flat: ") + "; ".join(parts),
            )
            (log.warning if remaining or orders else log.info)("sweep: %s", result.message)
            return result
        finally:
            oco.is_sweeping = False

    async def _cancel(self, order: OrderUpdate, semaphore: asyncio.Semaphore) -> int:
        async with semaphore:
            try:
                done = await self._executor.cancel(order.symbol, order.client_id, order.is_conditional)
            except ExchangeError as exc:
                self._oco.errors += 1
                log.error("sweep: cancel %s failed: %s", order.client_id, exc, extra={"symbol": order.symbol})
                return 0
        # The brackets learn their legs are gone, so closing them does not cancel the legs a second time.
        self._oco.on_cancel_answer(order.client_id, done)
        return 1 if done is not None else 0

    async def _close(self, position: Position, semaphore: asyncio.Semaphore, round_no: int) -> None:
        symbol = position.symbol
        bracket = self._oco.bracket_for(symbol)
        if bracket is not None:
            cid = client_id(bracket.seq, Leg.CLOSE, bracket.close_generation, symbol)
            bracket.close_generation += 1
            bracket.close_client_id = cid
            self._oco.register(cid, bracket, Leg.CLOSE)
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
            except SEND_FAILURES as exc:
                self._oco.errors += 1
                log.error("sweep: close failed: %s", exc, extra={"symbol": symbol})
                return
        self._oco.on_order_update(ack)
