"""LegPlacer: puts a filled bracket's take-profit and stop-loss on the exchange as close-position conditional
orders, stop first (a position must never be left without its stop longer than it takes to place one).
A leg that cannot be placed gives protection up: the position is closed at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from casino_tui.config import TradingConfig
from casino_tui.crashpoints import crash_point
from casino_tui.engine.brackets.book import BracketBook
from casino_tui.engine.brackets.closing import BracketCloser
from casino_tui.engine.brackets.machine import Bracket, Leg, client_id
from casino_tui.engine.executor import SEND_FAILURES, OrderExecutor
from casino_tui.model import (
    BracketState,
    CloseReason,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    SymbolRules,
)

log = logging.getLogger("casino.oco")

S = BracketState
_PLACED = (OrderStatus.NEW, OrderStatus.TRIGGERED, OrderStatus.FILLED)


class LegPlacer:
    """Places the TP/SL legs an OPEN_UNPROTECTED bracket lacks; gives up and closes when one fails.

    `on_update` is the OCOManager's order handler: a leg's REST answer acknowledges it the way the user
    stream's report would.
    """

    def __init__(
        self,
        book: BracketBook,
        executor: OrderExecutor,
        rules: dict[str, SymbolRules],
        config: TradingConfig,
        closer: BracketCloser,
        on_update: Callable[[OrderUpdate], None],
    ) -> None:
        self._book = book
        self._executor = executor
        self._on_update = on_update
        self._rules = rules
        self._config = config
        self._closer = closer

    async def protect(self, bracket: Bracket) -> None:
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
            # Registered before the send: the stream may report the leg before the REST answer does.
            self._book.register(cid, bracket, leg)
            self._closer.note_placing(cid)
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
                await self.give_up(bracket, f"{leg.name} leg {cid} failed: {exc}")
                return
            self._on_update(ack)
            if leg is Leg.SL:
                crash_point("between_sl_tp")
            if bracket.state is S.OPEN_UNPROTECTED and bracket.leg_client_id(leg) == cid:
                acked = bracket.sl_acked if leg is Leg.SL else bracket.tp_acked
                if not acked and ack.status not in _PLACED:
                    await self.give_up(bracket, f"{leg.name} leg {cid} came back {ack.status}")
                    return

    async def give_up(self, bracket: Bracket, why: str) -> None:
        """Protection failed: PROTECT_FAILED, then close the position (a no-op unless OPEN_UNPROTECTED).

        The bracket moves on to CLOSING only when the exchange takes the close; until then it says what it is.
        """
        if bracket.state is not S.OPEN_UNPROTECTED:
            return
        self._book.count_error()
        bracket.note = why
        log.error(
            "%s: protection failed (%s); closing the position",
            bracket.id,
            why,
            extra={"symbol": bracket.symbol},
        )
        self._book.move(bracket, S.PROTECT_FAILED, CloseReason.PROTECT_FAILED)
        await self._closer.close(bracket)
