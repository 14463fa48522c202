"""The pessimistic rule for klines, as the replay applies it: a bar reaching both legs fills the stop-loss.

A kline is replayed as four trades: open → the extreme nearer the open → the other extreme → close (see
`klines.py`). When the exchange holds a position in the symbol as the bar's second trade comes, the two
extremes are delivered adverse one first (the low for a long, the high for a short): a bar whose range holds
both the take-profit and the stop-loss then fills the stop, whatever the path order, as `klines.exit_in_bar`
states by default. The open is the bar's first price and keeps its place, so a leg the open already reaches (a
gap) fires there. Every trade keeps its time slot and volume, so the bar's OHLCV and the engine's candle are
the same either way.
"""

from __future__ import annotations

from collections.abc import Callable

from casino_tui.exchange.replay.klines import Kline
from casino_tui.model import OrderType, OrderUpdate, Trade

BarAt = Callable[[str, int], Kline | None]
OpenOrders = Callable[[str], list[OrderUpdate]]


class AdverseFirst:
    """Swaps a kline bar's two extremes when they come favourable first against an open position."""

    def __init__(self, bar_at: BarAt, open_orders: OpenOrders) -> None:
        self._bar_at = bar_at
        self._open_orders = open_orders
        # Symbol → the price its bar's third trade takes (the favourable extreme, moved there).
        self.pending: dict[str, float] = {}
        self.reordered = 0
        self.both_legs_reached = 0  # bars whose range held a take-profit and a stop-loss: the stop won

    def first_extreme(self, trade: Trade, position_sign: int) -> Trade:
        """`trade`, or the adverse extreme in its place when it is a bar's second trade, a position is open
        (`position_sign` +1 long, -1 short) and the path would visit the favourable extreme first."""
        if position_sign == 0:
            return trade
        bar = self._bar_at(trade.symbol, trade.ts_ms)
        if bar is None or trade.ts_ms != bar.open_ms + bar.interval_ms // 3:
            return trade
        if self._reaches_both_legs(bar):
            self.both_legs_reached += 1
        adverse = bar.low if position_sign > 0 else bar.high
        if trade.price == adverse:
            return trade
        self.pending[trade.symbol] = trade.price
        self.reordered += 1
        return Trade(trade.symbol, adverse, trade.qty, trade.ts_ms, adverse < bar.open)

    def _reaches_both_legs(self, bar: Kline) -> bool:
        """The bar's range holds the trigger of a resting stop-loss and of a resting take-profit."""
        kinds = {
            order.type
            for order in self._open_orders(bar.symbol)
            if order.trigger_price is not None and bar.low <= order.trigger_price <= bar.high
        }
        return OrderType.STOP_MARKET in kinds and OrderType.TAKE_PROFIT_MARKET in kinds

    def second_extreme(self, trade: Trade) -> Trade:
        """The bar's third trade, carrying the extreme that `first_extreme` moved back."""
        price = self.pending.pop(trade.symbol)
        return Trade(trade.symbol, price, trade.qty, trade.ts_ms, price < trade.price)
