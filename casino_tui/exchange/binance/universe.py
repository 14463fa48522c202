"""Which perpetuals `symbols = "all"` means on Binance: exchangeInfo filtered by status, contract type, quote
asset and the 24 h quote volume of the bulk ticker."""

from __future__ import annotations

from collections.abc import Mapping

from casino_tui.exchange.binance.codec import ExchangeInfo
from casino_tui.exchange.binance.rules import rules_by_symbol


def select_perpetuals(
    info: ExchangeInfo, quote_volumes: Mapping[str, float], quote_asset: str, min_quote_volume_24h: float
) -> list[str]:
    """Every TRADING PERPETUAL quoted in `quote_asset` with the filters orders need, whose 24 h quote volume
    is at least the floor: the most traded first (ties by name). A symbol missing from the ticker has traded
    nothing, so only a floor of 0 keeps it."""
    tradable = rules_by_symbol(info)  # symbols without PRICE_FILTER / LOT_SIZE cannot be ordered
    chosen = [
        sym.symbol
        for sym in info.symbols
        if sym.status == "TRADING"
        and sym.contract_type == "PERPETUAL"
        and sym.quote_asset == quote_asset
        and sym.symbol in tradable
        and quote_volumes.get(sym.symbol, 0.0) >= min_quote_volume_24h
    ]
    return sorted(chosen, key=lambda symbol: (-quote_volumes.get(symbol, 0.0), symbol))
