"""A synthetic order book around the last price, for /fapi/v1/depth, bookTicker and the depth streams.

The sim has no resting liquidity, so the book is made up: best bid at the last trade price (on the tick
grid), best ask one tick above, one level per tick on each side. A level's size depends only on its price,
so when the price moves, levels appear and disappear at the edges but never change size: a diff-depth
stream then carries only those edges, and a REST snapshot plus the diffs rebuild the same book.
"""

from __future__ import annotations

import math

from casino_tui.sandbox.numbers import SymbolFormat

MAX_LEVELS = 1000  # the deepest REST snapshot (limit=1000); diff streams keep this many levels exact
# Notional (USDT) of a level, scaled by a factor in [0.5, 2) drawn from the level's price.
_LEVEL_NOTIONAL = 5_000.0
_KNUTH = 2_654_435_761


def bid_index(fmt: SymbolFormat, last: float) -> int:
    """The best bid as a whole number of ticks."""
    return round(last / fmt.tick)


def level_qty(fmt: SymbolFormat, index: int) -> float:
    """Size resting at price `index` ticks: deterministic from the price alone."""
    price = max(index, 1) * fmt.tick
    spread = ((index * _KNUTH) % 2**32) / 2**32
    qty = _LEVEL_NOTIONAL * (0.5 + 1.5 * spread) / price
    return max(fmt.step, math.floor(qty / fmt.step) * fmt.step)


def level(fmt: SymbolFormat, index: int) -> list[str]:
    return [fmt.price(index * fmt.tick), fmt.qty(level_qty(fmt, index))]


def best_bid_ask(fmt: SymbolFormat, last: float) -> tuple[float, float, float, float]:
    """(bid price, bid qty, ask price, ask qty) of the synthetic book."""
    bid = bid_index(fmt, last)
    return bid * fmt.tick, level_qty(fmt, bid), (bid + 1) * fmt.tick, level_qty(fmt, bid + 1)


def depth(fmt: SymbolFormat, last: float, levels: int) -> tuple[list[list[str]], list[list[str]]]:
    """`levels` bids (best first) and asks (best first) as Binance's [[price, qty], ...] strings."""
    bid = bid_index(fmt, last)
    bids = [level(fmt, i) for i in range(bid, max(bid - levels, 0), -1)]
    asks = [level(fmt, i) for i in range(bid + 1, bid + 1 + levels)]
    return bids, asks


def changed_levels(
    fmt: SymbolFormat, low: int, high: int, now: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Every level whose presence may have changed while the best bid moved within [low, high] ticks,
    with its size in the book at `now` ("0" once gone): what a diff-depth event must carry."""

    def side(candidates: set[int], present: range) -> list[list[str]]:
        return [level(fmt, i) if i in present else [fmt.price(i * fmt.tick), "0"] for i in sorted(candidates)]

    if low == high == now:
        return [], []
    # Tick i holds a bid while i <= bid < i + MAX_LEVELS and an ask while i - MAX_LEVELS <= bid < i:
    # with the bid anywhere in [low, high], only these ticks can have come or gone.
    top = range(low + 1, high + 1)
    bid_edge = range(low - MAX_LEVELS + 1, high - MAX_LEVELS + 1)
    ask_edge = range(low + MAX_LEVELS + 1, high + MAX_LEVELS + 1)
    bids = side({i for i in (*top, *bid_edge) if i > 0}, range(max(now - MAX_LEVELS + 1, 1), now + 1))
    asks = side({i for i in (*top, *ask_edge) if i > 0}, range(now + 1, now + MAX_LEVELS + 1))
    return bids[::-1], asks
