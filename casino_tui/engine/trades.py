"""TradeLedger: the closed trades of every run on this state directory, for the Trades screen.

Fed as brackets close, and rebuilt at start-up from the journal's CLOSED bracket records, so the history
survives a restart. Bounded: the newest `keep` trades are listed and the equity curve is thinned past
`max_points`, while the totals (count, wins, PnL, fees, profit factor, drawdown) cover every trade.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable

import msgspec

from casino_tui.engine.brackets.machine import Bracket
from casino_tui.engine.journal import JournalEntry
from casino_tui.model import BracketState
from casino_tui.snapshot import ClosedTrade, TradeHistory, TradeTotals

log = logging.getLogger("casino.trades")

TRADES_KEPT = 500
EQUITY_POINTS = 1000


def closed_trade(bracket: Bracket) -> ClosedTrade:
    return ClosedTrade(
        bracket_id=bracket.id,
        symbol=bracket.symbol,
        side="LONG" if bracket.side.sign > 0 else "SHORT",
        qty=bracket.qty,
        entry=bracket.entry_price,
        exit=bracket.exit_price,
        reason=bracket.close_reason,
        realized_pnl=bracket.realized_pnl,
        fees=bracket.fees,
        opened_ms=bracket.opened_ms or bracket.created_ms,
        closed_ms=bracket.closed_ms,
    )


class TradeLedger:
    """Totals over every closed trade, the newest `keep` of them, and realised equity by close time.

    `view()` is an immutable TradeHistory built at most once per change (`version`), so a screen that asks
    every second copies nothing while no trade closes.
    """

    def __init__(self, keep: int = TRADES_KEPT, max_points: int = EQUITY_POINTS) -> None:
        self._recent: deque[ClosedTrade] = deque(maxlen=keep)
        self._max_points = max(2, max_points)
        self._points: list[tuple[int, float]] = []  # (ms, cumulative net PnL), oldest first
        self._totals = TradeTotals()
        self._net = 0.0
        self._peak = 0.0
        self._start_balance = 0.0
        self.version = 0
        self._view: TradeHistory | None = None

    def record(self, bracket: Bracket) -> None:
        """Take a CLOSED bracket; one whose entry never filled made no trade and is left out."""
        if bracket.state is not BracketState.CLOSED or not bracket.has_entry_fill:
            return
        trade = closed_trade(bracket)
        self._recent.append(trade)
        self._count(trade)
        if not self._points:  # the curve starts where the first trade opened, at the start balance
            self._points.append((trade.opened_ms, 0.0))
        self._points.append((trade.closed_ms or trade.opened_ms, round(self._net, 8)))
        if len(self._points) > self._max_points:
            self._thin()
        self._changed()

    def rebuild(self, entries: Iterable[JournalEntry]) -> int:
        """Record the CLOSED bracket records of earlier runs (the journal's, oldest first); how many counted."""
        before = self._totals.trades
        for entry in entries:
            try:
                bracket = msgspec.convert(entry.payload, Bracket)
            except msgspec.ValidationError as exc:
                log.error("closed bracket %s unreadable, left out of the trades: %s", entry.ref, exc)
                continue
            if not bracket.closed_ms:
                bracket.closed_ms = entry.ts_ms
            self.record(bracket)
        return self._totals.trades - before

    def anchor(self, balance: float) -> None:
        """The wallet `balance` now includes every trade recorded so far: the curve starts before them."""
        self._start_balance = balance - self._net
        self._changed()

    def view(self) -> TradeHistory:
        if self._view is None:
            start = self._start_balance
            self._view = TradeHistory(
                version=self.version,
                totals=self._totals,
                recent=tuple(reversed(self._recent)),
                equity=tuple((ms, round(start + net, 8)) for ms, net in self._points),
                start_balance=start,
            )
        return self._view

    def _count(self, trade: ClosedTrade) -> None:
        t, net = self._totals, trade.net_pnl
        self._net += net
        self._peak = max(self._peak, self._net)
        self._totals = msgspec.structs.replace(
            t,
            trades=t.trades + 1,
            wins=t.wins + (net > 0),
            losses=t.losses + (net <= 0),
            realized_pnl=t.realized_pnl + trade.realized_pnl,
            fees=t.fees + trade.fees,
            gross_profit=t.gross_profit + max(net, 0.0),
            gross_loss=t.gross_loss + max(-net, 0.0),
            max_drawdown=max(t.max_drawdown, self._peak - self._net),
        )

    def _thin(self) -> None:
        """Every other point goes, the first and the newest stay: the curve keeps its ends and its shape."""
        kept = self._points[::2]
        if kept[-1] != self._points[-1]:
            kept.append(self._points[-1])
        self._points = kept

    def _changed(self) -> None:
        self.version += 1
        self._view = None
