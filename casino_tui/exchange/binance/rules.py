"""exchangeInfo → `SymbolRules` per symbol, and the rate limits it announces."""

from __future__ import annotations

from casino_tui.exchange.binance.codec import ExchangeInfo, SymbolInfo
from casino_tui.model import SymbolRules


def symbol_rules(info: SymbolInfo) -> SymbolRules:
    """The PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE and MIN_NOTIONAL of one symbol, as exact strings."""
    by_type = {f.filter_type: f for f in info.filters}
    price = by_type.get("PRICE_FILTER")
    lot = by_type.get("LOT_SIZE")
    market_lot = by_type.get("MARKET_LOT_SIZE")
    notional = by_type.get("MIN_NOTIONAL")
    if price is None or lot is None:
        raise ValueError(f"{info.symbol}: exchangeInfo lacks PRICE_FILTER or LOT_SIZE")
    return SymbolRules(
        symbol=info.symbol,
        tick_size=price.tick_size,
        step_size=lot.step_size,
        min_qty=lot.min_qty,
        max_qty=lot.max_qty,
        min_notional=notional.notional if notional is not None else "0",
        market_max_qty=market_lot.max_qty if market_lot is not None else "0",
        min_price=price.min_price,
        max_price=price.max_price,
        base_asset=info.base_asset,
        quote_asset=info.quote_asset,
        status=info.status,
    )


def rules_by_symbol(info: ExchangeInfo) -> dict[str, SymbolRules]:
    """Rules of every USDT-quoted perpetual; symbols missing a required filter are left out."""
    out: dict[str, SymbolRules] = {}
    for sym in info.symbols:
        if sym.contract_type != "PERPETUAL" or sym.quote_asset != "USDT":
            continue
        try:
            out[sym.symbol] = symbol_rules(sym)
        except ValueError:
            continue
    return out


def announced_limits(info: ExchangeInfo) -> tuple[int | None, int | None, int | None]:
    """(request weight per minute, orders per 10 s, orders per minute) from `rateLimits`, where given."""
    weight = orders_10s = orders_1m = None
    for limit in info.rate_limits:
        if limit.kind == "REQUEST_WEIGHT" and limit.interval == "MINUTE" and limit.interval_num == 1:
            weight = limit.limit
        elif limit.kind == "ORDERS" and limit.interval == "SECOND" and limit.interval_num == 10:
            orders_10s = limit.limit
        elif limit.kind == "ORDERS" and limit.interval == "MINUTE" and limit.interval_num == 1:
            orders_1m = limit.limit
    return weight, orders_10s, orders_1m
