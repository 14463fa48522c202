"""Decimal strings as Binance writes them: prices and quantities to the symbol's tick and step, money to 8 places."""

from __future__ import annotations

from decimal import Decimal

from casino_tui.model import SymbolRules


def decimals_of(step: str) -> int:
    """Number of decimals in a tick or step size string ("0.010" -> 2)."""
    return decimals_sent(Decimal(step).normalize())


def decimals_sent(value: Decimal) -> int:
    """Number of decimals a value was written with, trailing zeros included ("1.50" -> 2)."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class SymbolFormat:
    """Formats one symbol's prices and quantities; built once per symbol from its rules."""

    __slots__ = ("price_decimals", "qty_decimals", "tick", "step")

    def __init__(self, rules: SymbolRules) -> None:
        self.price_decimals = decimals_of(rules.tick_size)
        self.qty_decimals = decimals_of(rules.step_size)
        self.tick = float(rules.tick_size)
        self.step = float(rules.step_size)

    def price(self, value: float) -> str:
        # Averages and marks are not tick multiples; Binance still prints them at the symbol's precision.
        return f"{value:.{self.price_decimals}f}" if value else "0"

    def qty(self, value: float) -> str:
        return f"{value:.{self.qty_decimals}f}" if value else "0"


def money(value: float) -> str:
    """Balances, PnL, fees and notionals: 8 decimals, as the account endpoints send them."""
    return f"{value:.8f}"


def plain(value: float) -> str:
    """A number with no symbol context (the sim's raw figure), without float noise."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"
