"""Account history (USER_DATA, signed): allOrders, allAlgoOrders, userTrades and income.

All read the ledger. Time windows follow Binance: with neither startTime nor endTime the last 7 days, with
one of them 7 days from (or up to) it, and never more than 7 days between them. Income has the rows the
sim produces: REALIZED_PNL and COMMISSION per fill (it charges no funding and takes no transfers).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from casino_tui.sandbox import errors, intervals
from casino_tui.sandbox.endpoint import Call, Endpoint, Security
from casino_tui.sandbox.ledger import Fill
from casino_tui.sandbox.numbers import money
from casino_tui.sandbox.render import algo_response, order_response

WINDOW_MS = 7 * intervals.DAY_MS
INCOME_TYPES = ("TRANSFER", "WELCOME_BONUS", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION", "INSURANCE_CLEAR")
# Income rows of one trade share a transaction id, as in Binance's examples; ids start high like Binance's.
TRAN_ID_BASE = 9_000_000_000


def time_window(call: Call) -> tuple[int, int]:
    """(start, end) in ms, both inclusive."""
    start, end = call.optional_int("startTime"), call.optional_int("endTime")
    if start is None and end is None:
        end = call.venue.server_ms()
    if start is None:
        assert end is not None
        start = end - WINDOW_MS
    if end is None:
        end = start + WINDOW_MS
    if end - start > WINDOW_MS:
        raise errors.ApiError(-1127, "More than 168 hours between startTime and endTime.")
    if start > end:
        raise errors.illegal_param("startTime")
    return start, end


def _limit(call: Call, default: int, most: int) -> int:
    return min(max(call.integer("limit", default), 1), most)


def _latest(rows: Iterable[Any], limit: int) -> list[Any]:
    kept = list(rows)
    return kept[-limit:]


async def all_orders(call: Call) -> object:
    """Orders of a symbol, oldest first: from `orderId` on if given, else the most recent in the window."""
    symbol = call.symbol()
    from_id = call.optional_int("orderId")
    limit = _limit(call, 500, 1000)
    fmt = call.fmt(symbol)
    records = call.venue.ledger.orders_of(symbol)
    if from_id is not None:
        return [order_response(r, fmt, with_time=True) for r in records if r.order_id >= from_id][:limit]
    start, end = time_window(call)
    recent = _latest((r for r in records if start <= r.create_ms <= end), limit)
    return [order_response(r, fmt, with_time=True) for r in recent]


async def all_algo_orders(call: Call) -> object:
    """Conditional orders of a symbol, oldest first: from `algoId` on if given, else the window's latest."""
    symbol = call.symbol()
    from_id = call.optional_int("algoId")
    limit = _limit(call, 500, 1000)
    fmt = call.fmt(symbol)
    records = call.venue.ledger.algos_of(symbol)
    if from_id is not None:
        return [algo_response(r, fmt) for r in records if r.algo_id >= from_id][:limit]
    start, end = time_window(call)
    page = max(call.integer("page", 1), 1)
    in_window = [r for r in records if start <= r.create_ms <= end]
    chosen = in_window[(page - 1) * limit : page * limit]
    return [algo_response(r, fmt) for r in chosen]


def _trade_row(f: Fill, call: Call) -> dict[str, object]:
    fmt = call.fmt(f.symbol)
    return {
        "buyer": f.side.value == "BUY",
        "commission": money(f.commission),
        "commissionAsset": "USDT",
        "id": f.trade_id,
        "maker": f.is_maker,
        "orderId": f.order_id,
        "price": fmt.price(f.price),
        "qty": fmt.qty(f.qty),
        "quoteQty": money(f.price * f.qty),
        "realizedPnl": money(f.realized_pnl),
        "side": f.side.value,
        "positionSide": "BOTH",
        "symbol": f.symbol,
        "time": f.ts_ms,
    }


async def user_trades(call: Call) -> object:
    """Fills of a symbol: from `fromId` on (times are not used with it), else the window's latest."""
    symbol = call.symbol()
    order_id = call.optional_int("orderId")
    from_id = call.optional_int("fromId")
    limit = _limit(call, 500, 1000)
    fills = [
        f
        for f in call.venue.ledger.fills
        if f.symbol == symbol and (order_id is None or f.order_id == order_id)
    ]
    if from_id is not None:
        return [_trade_row(f, call) for f in fills if f.trade_id >= from_id][:limit]
    start, end = time_window(call)
    return [_trade_row(f, call) for f in _latest((f for f in fills if start <= f.ts_ms <= end), limit)]


def _income_rows(fill: Fill) -> list[dict[str, object]]:
    """What one fill adds to the income history: its realized PnL (if it closed anything) and its fee."""
    common = {
        "symbol": fill.symbol,
        "asset": "USDT",
        "time": fill.ts_ms,
        "tranId": TRAN_ID_BASE + fill.trade_id,
    }
    rows = []
    if fill.realized_pnl:
        rows.append(
            {
                **common,
                "incomeType": "REALIZED_PNL",
                "income": money(fill.realized_pnl),
                "info": "REALIZED_PNL",
            }
        )
    if fill.commission:
        rows.append(
            {**common, "incomeType": "COMMISSION", "income": money(-fill.commission), "info": "COMMISSION"}
        )
    return [{**row, "tradeId": str(fill.trade_id)} for row in rows]


async def income(call: Call) -> object:
    """`GET /fapi/v1/income`: oldest first, 100 rows a page by default (1000 at most)."""
    symbol = call.optional_symbol()
    income_type = call.optional("incomeType")
    if income_type is not None and income_type not in INCOME_TYPES:
        raise errors.illegal_param("incomeType")
    limit = _limit(call, 100, 1000)
    page = max(call.integer("page", 1), 1)
    start, end = time_window(call)
    rows = [
        row
        for f in call.venue.ledger.fills
        if (symbol is None or f.symbol == symbol) and start <= f.ts_ms <= end
        for row in _income_rows(f)
        if income_type is None or row["incomeType"] == income_type
    ]
    return rows[(page - 1) * limit : page * limit]


ENDPOINTS = [
    Endpoint("GET", "/fapi/v1/allOrders", Security.SIGNED, all_orders),
    Endpoint("GET", "/fapi/v1/allAlgoOrders", Security.SIGNED, all_algo_orders),
    Endpoint("GET", "/fapi/v1/userTrades", Security.SIGNED, user_trades),
    Endpoint("GET", "/fapi/v1/income", Security.SIGNED, income),
]
