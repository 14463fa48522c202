"""Exchange rules for symbols the sim does not know: tick and step sizes from the data (the finest decimal
increments seen in a bounded prefix of rows) or given by the operator, with sensible filter defaults."""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from casino_tui.model import SymbolRules

# Enough for any price or quantity Binance lists, few enough that float noise (0.30000000000000004) is cut.
SIGNIFICANT_DIGITS = 12
MAX_DECIMALS = 12
DEFAULT_MIN_NOTIONAL = "5"  # USDⓈ-M's usual MIN_NOTIONAL filter
DEFAULT_MAX_QTY = "1000000000"


def decimals(value: float) -> int:
    """Digits after the point that `value` needs, read at 12 significant digits (robust to float noise)."""
    if not (math.isfinite(value) and value):
        return 0
    text = f"{value:.{SIGNIFICANT_DIGITS}g}"  # "g" drops trailing zeros: 1.5 → "1.5", 1.234e-05 stays
    mantissa, _, exponent = text.partition("e")
    places = len(mantissa.partition(".")[2]) - (int(exponent) if exponent else 0)
    return min(MAX_DECIMALS, max(0, places))


def finest_decimals(values: Iterable[float]) -> int:
    """The most decimals any of `values` needs: the finest increment seen is 10**-that."""
    return max(map(decimals, set(values)), default=0)


def increment(places: int) -> str:
    """`10**-places` as an exact decimal string: 2 → "0.01", 0 → "1"."""
    return format(Decimal(1).scaleb(-places), "f")


def size_text(value: float, flag: str) -> str:
    """An operator-given tick or step size as the exact decimal string the rules carry."""
    try:
        text = format(Decimal(repr(float(value))).normalize(), "f")
    except (InvalidOperation, ValueError):
        raise ValueError(f"{flag}: not a number: {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{flag} must be a positive number, not {value!r}")
    return text


def replay_rules(
    symbol: str,
    price_decimals: int,
    qty_decimals: int,
    *,
    tick_size: float | None = None,
    step_size: float | None = None,
) -> SymbolRules:
    """Rules for `symbol`: given sizes win over the ones inferred from the data; min qty is one step."""
    tick = size_text(tick_size, "--tick-size") if tick_size is not None else increment(price_decimals)
    step = size_text(step_size, "--step-size") if step_size is not None else increment(qty_decimals)
    base = symbol.removesuffix("USDT") if symbol.endswith("USDT") and symbol != "USDT" else symbol
    return SymbolRules(
        symbol=symbol,
        tick_size=tick,
        step_size=step,
        min_qty=step,
        max_qty=DEFAULT_MAX_QTY,
        min_notional=DEFAULT_MIN_NOTIONAL,
        market_max_qty=DEFAULT_MAX_QTY,
        min_price=tick,
        max_price="0",
        base_asset=base,
    )
