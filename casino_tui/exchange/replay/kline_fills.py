"""How a kline's intra-bar path fills our orders: along its segments, and the stop first on a two-leg bar.

A kline is replayed as four trades: open → the extreme nearer the open → the other extreme → close (see
`klines.py`). Two rules make fills on that path fair:

- Segments: between two path trades the price is taken to move through every price in between, so a resting
  stop or take-profit whose trigger the segment crosses fills there (a stop at 98 on a drop from 101 to 97.5
  fills at 98, less slippage, not at 97.5). The open is the bar's first price: a gap from the previous close
  fills an order at the open.
- Pessimistic (the default of `klines.exit_in_bar`): when the exchange holds a position as the bar's second
  trade comes, the two extremes are visited adverse one first (the low for a long, the high for a short), so
  a bar whose range holds both the take-profit and the stop-loss fills the stop, whatever the path order.

Every trade the engine sees keeps its time slot and volume: the bar's OHLCV and the engine's candle are the
same either way. The in-between prices are offered to the matching engine only.
"""

from __future__ import annotations

from collections.abc import Callable

from casino_tui.exchange.replay.klines import Kline
from casino_tui.model import OrderType, OrderUpdate, Trade

BarAt = Callable[[str, int], Kline | None]
OpenOrders = Callable[[str], list[OrderUpdate]]


class KlineFills:
    """The two rules above, applied by the replay exchange to the trades of symbols replayed from klines."""

    def __init__(self, bar_at: BarAt, open_orders: OpenOrders) -> None:
        self._bar_at = bar_at
        self._open_orders = open_orders
        # Symbol → the price its bar's third trade takes (the favourable extreme, moved there).
        self.pending: dict[str, float] = {}
        self.both_legs_reached = 0  # bars whose range held a take-profit and a stop-loss: the stop filled

    def adverse_first(self, trade: Trade, position_sign: int) -> Trade:
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
        return Trade(trade.symbol, adverse, trade.qty, trade.ts_ms, adverse < bar.open)

    def second_extreme(self, trade: Trade) -> Trade:
        """The bar's third trade, carrying the extreme that `adverse_first` moved back."""
        price = self.pending.pop(trade.symbol)
        return Trade(trade.symbol, price, trade.qty, trade.ts_ms, price < trade.price)

    def crossed(self, trade: Trade, previous: float | None) -> list[Trade]:
        """Trades at the triggers of our resting orders strictly between `previous` and `trade` on the bar's
        path, in the order the segment reaches them (none for the bar's open: a gap jumps)."""
        if previous is None or previous == trade.price:
            return []
        bar = self._bar_at(trade.symbol, trade.ts_ms)
        if bar is None or trade.ts_ms == bar.open_ms:
            return []
        low, high = min(previous, trade.price), max(previous, trade.price)
        triggers = {order.trigger_price for order in self._open_orders(trade.symbol)}
        inside = sorted(
            (p for p in triggers if p is not None and low < p < high), reverse=trade.price < previous
        )
        return [Trade(trade.symbol, p, 0.0, trade.ts_ms, trade.buyer_is_maker) for p in inside]

    def _reaches_both_legs(self, bar: Kline) -> bool:
        """The bar's range holds the trigger of a resting stop-loss and of a resting take-profit."""
        kinds = {
            order.type
            for order in self._open_orders(bar.symbol)
            if order.trigger_price is not None and bar.low <= order.trigger_price <= bar.high
        }
        return OrderType.STOP_MARKET in kinds and OrderType.TAKE_PROFIT_MARKET in kinds
