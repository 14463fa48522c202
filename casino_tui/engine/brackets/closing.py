"""BracketCloser: ends a bracket's life. Closes its position with reduce-only market orders, cancels the legs
that may still be live on the exchange, and only then settles the bracket CLOSED.

It remembers which legs the exchange has already reported final (filled, cancelled, expired, rejected,
triggered) — from order updates and from the sweep's cancel answers — so it never cancels a leg that is
gone: such a cancel can only come back -2011, which the connector counts as a failed request.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from casino_tui.engine.brackets.book import BracketBook
from casino_tui.engine.brackets.machine import Bracket, Leg, client_id
from casino_tui.engine.executor import SEND_FAILURES, OrderExecutor
from casino_tui.engine.positions import PositionTracker
from casino_tui.model import (
    BracketState,
    CloseReason,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    SymbolRules,
)
from casino_tui.port import ExchangeError, RejectedError

log = logging.getLogger("casino.oco")

S = BracketState
_GONE_LIMIT = 4096  # leg client ids remembered as gone; forgetting one costs at most a harmless -2011


def is_gone(status: OrderStatus) -> bool:
    """Whether an order in `status` is no longer cancellable (final, or a conditional that already fired)."""
    return status.is_final or status is OrderStatus.TRIGGERED


class BracketCloser:
    """Closes positions and cancels leftover legs of the book's brackets (see the module docstring).

    `on_update` is the OCOManager's order handler: a REST answer moves the bracket exactly as the user
    stream's report of the same order would.
    """

    def __init__(
        self,
        book: BracketBook,
        executor: OrderExecutor,
        rules: dict[str, SymbolRules],
        tracker: PositionTracker,
        on_update: Callable[[OrderUpdate], None],
        *,
        attempts: int = 3,
    ) -> None:
        self._book = book
        self._executor = executor
        self._on_update = on_update
        self._rules = rules
        self._tracker = tracker
        self._attempts = attempts
        self._finishing: set[str] = set()
        self.cancelled = 0  # legs this closer cancelled (the exchange answered with the cancelled order)
        self._gone: OrderedDict[str, OrderStatus] = OrderedDict()  # leg client id -> its final status

    # -- what the exchange said about legs ----------------------------------------------------------------

    def note_leg(self, client_id: str, status: OrderStatus) -> None:
        """Remember a TP/SL leg reported in `status`; a gone leg is never cancelled again."""
        if not is_gone(status):
            return
        self._gone[client_id] = status
        self._gone.move_to_end(client_id)
        while len(self._gone) > _GONE_LIMIT:
            self._gone.popitem(last=False)

    def note_placing(self, client_id: str) -> None:
        """A leg is about to be sent under `client_id`: whatever was known about an earlier use is stale."""
        self._gone.pop(client_id, None)

    def is_leg_gone(self, client_id: str) -> bool:
        return client_id in self._gone

    # -- closing ----------------------------------------------------------------------------------------

    async def close(self, bracket: Bracket) -> None:
        """Close the bracket's position with a reduce-only market order (before touching its legs)."""
        rules = self._rules[bracket.symbol]
        for attempt in range(self._attempts):
            qty = rules.snap_qty(abs(self._tracker.qty(bracket.symbol)) or bracket.qty)
            bracket.close_client_id = client_id(
                bracket.seq, Leg.CLOSE, bracket.close_generation, bracket.symbol
            )
            bracket.close_generation += 1
            self._book.register(bracket.close_client_id, bracket, Leg.CLOSE)
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
                    await self.finish(bracket, None)
                    return
            except SEND_FAILURES as exc:
                log.warning("%s: close attempt %d failed: %s", bracket.id, attempt + 1, exc)
            else:
                self._on_update(ack)
                if ack.status is OrderStatus.FILLED or ack.status is OrderStatus.NEW:
                    return
            await self._executor.sleep(self._executor.backoff_delay(attempt))
        self._book.count_error()
        log.critical(
            "%s: could not close the position; reconcile needed", bracket.id, extra={"symbol": bracket.symbol}
        )

    async def close_orphan(self, bracket: Bracket, update: OrderUpdate) -> None:
        """Close the fill of an entry the bracket had already given up on."""
        bracket.close_generation += 1
        cid = client_id(bracket.seq, Leg.CLOSE, bracket.close_generation, bracket.symbol)
        request = OrderRequest(
            bracket.symbol, update.side.opposite, OrderType.MARKET, update.filled_qty, cid, reduce_only=True
        )
        await self._executor.place(request)

    async def finish(self, bracket: Bracket, filled_client_id: str | None) -> None:
        """Cancel every leg that may still be live, then CLOSED. The bracket holds its symbol until then,
        so a stale close-position leg can never act on the symbol's next position."""
        if bracket.id in self._finishing or not bracket.is_active:
            return
        self._finishing.add(bracket.id)
        try:
            pending = [
                cid
                for cid in (bracket.tp_client_id, bracket.sl_client_id)
                if cid and cid != filled_client_id and cid not in self._gone
            ]
            for attempt in range(self._attempts):
                failed = []
                for cid in pending:
                    if cid in self._gone:  # reported gone while an earlier cancel was awaited
                        continue
                    try:
                        answer = await self._executor.cancel(bracket.symbol, cid, conditional=True)
                    except ExchangeError as exc:
                        log.warning(
                            "%s: cancelling %s failed: %s",
                            bracket.id,
                            cid,
                            exc,
                            extra={"symbol": bracket.symbol},
                        )
                        failed.append(cid)
                        continue
                    self._note_cancel_answer(cid, answer)
                pending = failed
                if not pending:
                    break
                await self._executor.sleep(self._executor.backoff_delay(attempt))
            if pending:
                self._book.count_error()
                log.error(
                    "%s: legs %s still live; reconcile needed",
                    bracket.id,
                    pending,
                    extra={"symbol": bracket.symbol},
                )
            elif bracket.is_active:
                self._book.move(bracket, S.CLOSED, bracket.close_reason or CloseReason.RECONCILED)
        finally:
            self._finishing.discard(bracket.id)

    async def mark_closed(
        self, bracket: Bracket, reason: CloseReason, filled_client_id: str | None = None
    ) -> bool:
        """Close a bracket whose position is gone from the exchange: cancel its live legs (all but
        `filled_client_id`), then CLOSED(`reason`). False if a leg would not cancel (it stays CLOSING)."""
        if not bracket.is_active:
            return True
        if bracket.state is S.PENDING_ENTRY:
            self._book.move(bracket, S.ENTRY_REJECTED, reason)
        if bracket.state is S.ENTRY_REJECTED:
            self._book.move(bracket, S.CLOSED, reason)
            return True
        if bracket.state is S.CLOSING:
            bracket.close_reason = reason
        else:
            self._book.move(bracket, S.CLOSING, reason)
        await self.finish(bracket, filled_client_id)
        return not bracket.is_active

    async def cancel_stray(self, bracket: Bracket, cid: str) -> None:
        """Cancel a leg acknowledged after its bracket moved on; it must not outlive the bracket."""
        if cid in self._gone:
            return
        try:
            answer = await self._executor.cancel(bracket.symbol, cid, conditional=True)
        except ExchangeError as exc:
            self._book.count_error()
            log.error(
                "%s: stray leg %s not cancelled: %s", bracket.id, cid, exc, extra={"symbol": bracket.symbol}
            )
            return
        self._note_cancel_answer(cid, answer)

    def _note_cancel_answer(self, cid: str, answer: OrderUpdate | None) -> None:
        # None is -2011: the leg was already filled, cancelled or expired; that is the goal too.
        self.note_leg(cid, answer.status if answer is not None else OrderStatus.CANCELED)
        if answer is not None:
            self.cancelled += 1
