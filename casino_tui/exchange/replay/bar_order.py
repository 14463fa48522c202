"""The pessimistic rule for klines: inside a bar, the extreme against an open position comes first.

A kline is replayed as a path of trades (open → the nearer extreme → the other extreme → close). Where the
bar's high and low reach both the take-profit and the stop-loss of a position, the path alone would decide
which leg fires, so the replay states a rule instead: when the exchange holds a position in the symbol at
the bar's first intra-bar trade, the interior of the path is visited adverse extreme first (the low for a
long, the high for a short), so the stop wins any tie. The open and the close keep their places, and every
trade keeps its time slot, so the bar's OHLCV (and the engine's candle) are unchanged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from casino_tui.model import Trade


class AdverseFirstPaths:
    """The merged trade stream with a hook to reorder a kline bar's path against a position.

    `intervals` names the symbols replayed from klines and their bar length. For those symbols the stream
    reads ahead to the end of a bar when asked to reorder it; trades of other symbols pass through.
    """

    def __init__(self, trades: Iterator[Trade], intervals: dict[str, int]) -> None:
        self._source = trades
        self._intervals = intervals
        self._ahead: deque[Trade] = deque()
        # Per kline symbol: the bar of the last trade handed out and how many of its trades came before it.
        self._bar: dict[str, int] = {}
        self._index: dict[str, int] = {}
        self.reordered = 0

    def __iter__(self) -> AdverseFirstPaths:
        return self

    def __next__(self) -> Trade:
        trade = self._ahead.popleft() if self._ahead else next(self._source)
        interval = self._intervals.get(trade.symbol)
        if interval is not None:
            bar = trade.ts_ms // interval
            if self._bar.get(trade.symbol) == bar:
                self._index[trade.symbol] += 1
            else:
                self._bar[trade.symbol] = bar
                self._index[trade.symbol] = 0
        return trade

    def is_first_interior(self, trade: Trade) -> bool:
        """Whether `trade` (the last one handed out) is the first trade after its bar's open."""
        return self._index.get(trade.symbol) == 1

    def adverse_first(self, trade: Trade, position_sign: int) -> Trade:
        """`trade` (the first interior trade of its bar) or the trade to deliver in its place, so that the
        bar's interior visits the low first for a long (`position_sign` > 0), the high first for a short."""
        if position_sign == 0 or not self.is_first_interior(trade):
            return trade
        interval = self._intervals[trade.symbol]
        bar_end = (trade.ts_ms // interval + 1) * interval
        self._read_until(bar_end)
        # The rest of the bar in the read-ahead buffer: its last trade is the close, which keeps its place.
        slots = [i for i, t in enumerate(self._ahead) if t.symbol == trade.symbol and t.ts_ms < bar_end]
        if not slots:
            return trade
        interior = [trade, *(self._ahead[i] for i in slots[:-1])]
        prices = [t.price for t in interior]
        adverse = min(prices) if position_sign > 0 else max(prices)
        if trade.price == adverse or interior[-1].price != adverse:
            return trade  # already adverse first, or not a path of extremes this rule speaks about
        reversed_interior = interior[::-1]
        moved = [
            Trade(t.symbol, src.price, src.qty, t.ts_ms, src.buyer_is_maker)
            for t, src in zip(interior, reversed_interior, strict=True)
        ]
        for i, replacement in zip(slots[:-1], moved[1:], strict=True):
            self._ahead[i] = replacement
        self.reordered += 1
        return moved[0]

    def _read_until(self, end_ms: int) -> None:
        """Read ahead until a trade at or after `end_ms` is buffered, or the stream ends."""
        ahead = self._ahead
        if ahead and ahead[-1].ts_ms >= end_ms:
            return
        for trade in self._source:
            ahead.append(trade)
            if trade.ts_ms >= end_ms:
                return
