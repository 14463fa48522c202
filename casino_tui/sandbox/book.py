"""A thin synthetic order book around the last price, for /fapi/v1/depth and the bookTicker stream.

The sim has no resting liquidity, so the book is made up: best bid at the last trade price, best ask one
tick above, each level a few ticks further out holding a little more size. Deterministic from the price.
"""

from __future__ import annotations

import math

from casino_tui.sandbox.numbers import SymbolFormat

# Notional (USDT) of the best level; each further level holds `_GROWTH` times more.
_TOP_NOTIONAL = 5_000.0
_GROWTH = 1.35
_TICKS_PER_LEVEL = 2


def _level_qty(fmt: SymbolFormat, price: float, level: int) -> float:
    qty = _TOP_NOTIONAL * _GROWTH**level / max(price, fmt.tick)
    return max(fmt.step, math.floor(qty / fmt.step) * fmt.step)


def best_bid_ask(fmt: SymbolFormat, last: float) -> tuple[float, float, float, float]:
    """(bid price, bid qty, ask price, ask qty) of the synthetic book."""
    bid = round(last / fmt.tick) * fmt.tick
    ask = bid + fmt.tick
    return bid, _level_qty(fmt, bid, 0), ask, _level_qty(fmt, ask, 0)


def depth(fmt: SymbolFormat, last: float, levels: int) -> tuple[list[list[str]], list[list[str]]]:
    """`levels` bids (best first) and asks (best first) as Binance's [[price, qty], ...] strings."""
    bid, _, ask, _ = best_bid_ask(fmt, last)
    bids: list[list[str]] = []
    asks: list[list[str]] = []
    for level in range(levels):
        offset = level * _TICKS_PER_LEVEL * fmt.tick
        bid_price = bid - offset
        if bid_price > 0:
            bids.append([fmt.price(bid_price), fmt.qty(_level_qty(fmt, bid_price, level))])
        ask_price = ask + offset
        asks.append([fmt.price(ask_price), fmt.qty(_level_qty(fmt, ask_price, level))])
    return bids, asks
