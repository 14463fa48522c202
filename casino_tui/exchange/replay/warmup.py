"""Warm-up candles taken from the data itself: the first bars of a replay become the history the runtime loads.

Candles are kept at each symbol's base interval (1m for trades, the file's interval for klines) and rolled up
on request; a timeframe finer than the base is never made up (`klines` returns nothing for it). A base bar
without trades between two traded ones is flat at the last close with no volume, as Binance reports it.
"""

from __future__ import annotations

from casino_tui.model import TIMEFRAME_MS, Candle, Trade

MINUTE_MS = 60_000


class WarmupCandles:
    """OHLCV per symbol and base bar, filled by `add(trade)` in time order, closed by `finish(end_ms)`."""

    def __init__(self, base_ms: dict[str, int]) -> None:
        self.base_ms = dict(base_ms)
        # Per symbol: rows [open_ms, open, high, low, close, volume, trades], oldest first.
        self._rows: dict[str, list[list[float]]] = {symbol: [] for symbol in base_ms}
        self.start_ms: int | None = None
        self.end_ms: int | None = None
        self.trades = 0

    def add(self, trade: Trade) -> None:
        """Count `trade` into its symbol's bar; trades must come in time order."""
        base = self.base_ms[trade.symbol]
        ts = trade.ts_ms
        open_ms = ts - ts % base
        if self.start_ms is None:
            self.start_ms = ts - ts % max(self.base_ms.values())
        rows = self._rows[trade.symbol]
        price = trade.price
        self.trades += 1
        if rows and rows[-1][0] == open_ms:
            row = rows[-1]
            if price > row[2]:
                row[2] = price
            if price < row[3]:
                row[3] = price
            row[4] = price
            row[5] += trade.qty
            row[6] += 1
            return
        if rows:  # quiet bars since the last trade: flat at the last close, as Binance lists them
            close = rows[-1][4]
            for gap in range(int(rows[-1][0]) + base, open_ms, base):
                rows.append([gap, close, close, close, close, 0.0, 0])
        rows.append([open_ms, price, price, price, price, trade.qty, 1])

    def finish(self, end_ms: int) -> None:
        """The warm-up ends at `end_ms` (a bar boundary): quiet symbols are carried flat up to it."""
        self.end_ms = end_ms
        for symbol, rows in self._rows.items():
            if rows:
                base = self.base_ms[symbol]
                close = rows[-1][4]
                for gap in range(int(rows[-1][0]) + base, end_ms, base):
                    rows.append([gap, close, close, close, close, 0.0, 0])

    def last_prices(self) -> dict[str, float]:
        """The close of every symbol that traded in the warm-up."""
        return {symbol: rows[-1][4] for symbol, rows in self._rows.items() if rows}

    def klines(self, symbol: str, timeframe: str, limit: int, end_ms: int) -> list[Candle]:
        """Up to `limit` whole `timeframe` candles inside the warm-up that closed by `end_ms`, oldest first."""
        tf_ms = TIMEFRAME_MS.get(timeframe)
        base = self.base_ms.get(symbol)
        if tf_ms is None or base is None or tf_ms < base or tf_ms % base or self.start_ms is None:
            return []
        stop = min(end_ms, self.end_ms if self.end_ms is not None else end_ms)
        first = -(-self.start_ms // tf_ms) * tf_ms  # the first bucket wholly inside the data
        out: list[Candle] = []
        bucket: list[float] | None = None
        for row in self._rows.get(symbol, ()):
            open_ms = int(row[0])
            start = open_ms - open_ms % tf_ms
            if start < first:
                continue
            if start + tf_ms > stop:
                break
            if bucket is None or bucket[0] != start:
                if bucket is not None:
                    out.append(_candle(symbol, timeframe, bucket))
                bucket = [start, row[1], row[2], row[3], row[4], row[5], row[6]]
            else:
                bucket[2] = max(bucket[2], row[2])
                bucket[3] = min(bucket[3], row[3])
                bucket[4] = row[4]
                bucket[5] += row[5]
                bucket[6] += row[6]
        if bucket is not None:
            out.append(_candle(symbol, timeframe, bucket))
        return out[-limit:] if limit > 0 else []


def _candle(symbol: str, timeframe: str, row: list[float]) -> Candle:
    return Candle(
        symbol, timeframe, int(row[0]), row[1], row[2], row[3], row[4], round(row[5], 8), int(row[6])
    )
