"""Klines as trades: each bar becomes a fixed four-trade path through its prices, so the engine's own candles
rebuild the file's OHLCV exactly at the file's interval.

The path is open → the extreme nearer to the open → the other extreme → close (a tie, the open exactly
halfway, visits the low first). The four trades sit at the bar's open, one and two thirds into it, and its
last millisecond, so in bars of 5m and longer each trade lands in a minute of its own. Volume is split in
quarters, the last quarter taking what float rounding left, so the engine's running sum ends at the file's
volume to the bit.

Brackets: a stop or take-profit triggers on the path like on any trade. A bar whose range holds BOTH the
take-profit and the stop-loss of one bracket is ambiguous (the bar does not say which came first), and the
pessimistic rule settles it by default: the stop-loss fills, whatever the path order. `exit_in_bar` states
the rule; a matcher learns the bar behind a path trade from `ReplaySource.bar_at(symbol, ts_ms)`.
"""

from __future__ import annotations

import enum

import msgspec

from casino_tui.model import Side, Trade


class Kline(msgspec.Struct, frozen=True, gc=False):
    """One bar of a Binance klines file; `open_ms` is the bar's start, it ends at `open_ms + interval_ms - 1`."""

    symbol: str
    open_ms: int
    interval_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def close_ms(self) -> int:
        return self.open_ms + self.interval_ms - 1

    def holds(self, price: float) -> bool:
        """The bar traded at `price` (it lies within low..high)."""
        return self.low <= price <= self.high


def path_trades(bar: Kline) -> tuple[Trade, Trade, Trade, Trade]:
    """The bar's four trades: open, nearer extreme, other extreme, close (see the module docstring)."""
    o, h, lo, c = bar.open, bar.high, bar.low, bar.close
    if h - o < o - lo:
        first, second = h, lo
    else:
        first, second = lo, h
    quarter = bar.volume * 0.25  # exact: a power-of-two scaling
    # The running sum of three quarters is at least half the volume, so `volume - sum` is exact (Sterbenz)
    # and adding it back lands on the volume itself.
    last = bar.volume - (quarter + quarter + quarter)
    t0 = bar.open_ms
    span = bar.interval_ms
    symbol = bar.symbol
    return (
        Trade(symbol, o, quarter, t0, False),
        # A move down is a seller hitting bids: the buyer is the maker.
        Trade(symbol, first, quarter, t0 + span // 3, first < o),
        Trade(symbol, second, quarter, t0 + 2 * span // 3, second < first),
        Trade(symbol, c, last, t0 + span - 1, c < second),
    )


class BothTouched(enum.StrEnum):
    """How a bar that reaches both the take-profit and the stop-loss of a bracket is resolved."""

    PESSIMISTIC = "pessimistic"  # the stop-loss fills (the default)
    PATH = "path"  # whichever the intra-bar path visits first


class BracketExit(enum.StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


def exit_in_bar(
    bar: Kline,
    side: Side,
    take_profit: float,
    stop_loss: float,
    rule: BothTouched = BothTouched.PESSIMISTIC,
) -> BracketExit | None:
    """Which leg of a bracket protecting a `side` position this bar fills, or None if it reaches neither."""
    if side is Side.BUY:
        hits_tp, hits_sl = bar.high >= take_profit, bar.low <= stop_loss
    else:
        hits_tp, hits_sl = bar.low <= take_profit, bar.high >= stop_loss
    if hits_tp and hits_sl:
        if rule is BothTouched.PESSIMISTIC:
            return BracketExit.STOP_LOSS
        for trade in path_trades(bar):
            price = trade.price
            if (price >= take_profit) if side is Side.BUY else (price <= take_profit):
                return BracketExit.TAKE_PROFIT
            if (price <= stop_loss) if side is Side.BUY else (price >= stop_loss):
                return BracketExit.STOP_LOSS
    if hits_tp:
        return BracketExit.TAKE_PROFIT
    if hits_sl:
        return BracketExit.STOP_LOSS
    return None
