"""Plain order endpoints (TRADE / USER_DATA): /fapi/v1/order, batchOrders, openOrders, allOpenOrders.

Only MARKET and LIMIT (GTC, or GTX post-only) go here; conditional types get -4120 as on Binance since the
2025-12-09 move to the Algo Service (see algo.py).
"""

from __future__ import annotations

import msgspec

from casino_tui.model import OrderRequest, OrderType, Side
from casino_tui.port import ExchangeError
from casino_tui.sandbox import errors, market
from casino_tui.sandbox.endpoint import Call, Endpoint, Security
from casino_tui.sandbox.ledger import OrderIntent, OrderRecord
from casino_tui.sandbox.placement import (
    NewOrder,
    check_price,
    check_qty,
    client_id,
    gate_after,
    gate_before,
    submit,
)
from casino_tui.sandbox.render import order_response

CONDITIONAL_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
MAX_BATCH = 5
POST_ONLY_REJECT_MSG = (
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history"
)
CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}
# Legacy conditional parameters that no longer belong on /fapi/v1/order.
_NOT_FOR_PLAIN_ORDERS = ("stopPrice", "activationPrice", "callbackRate")


def side_of(call: Call) -> Side:
    raw = call.text("side")
    if raw not in ("BUY", "SELL"):
        raise errors.ApiError(-1117, "Invalid side.")
    return Side(raw)


def one_way_only(call: Call) -> None:
    if call.params.get("positionSide", "BOTH") not in ("BOTH", ""):
        raise errors.ApiError(-4061, "Order's position side does not match user's setting.")


def not_required(name: str) -> errors.ApiError:
    return errors.ApiError(-1106, f"Parameter '{name}' sent when not required.")


async def parse_order(call: Call) -> NewOrder:
    """Validate a MARKET / LIMIT order as Binance's gateway does before the matching engine sees it."""
    symbol = call.symbol()
    side = side_of(call)
    order_type = call.text("type")
    if order_type in CONDITIONAL_TYPES:
        raise errors.ApiError(-4120, errors.STOP_ORDER_SWITCH_ALGO_MSG)
    if order_type not in ("MARKET", "LIMIT"):
        raise errors.ApiError(-1116, "Invalid orderType.")
    one_way_only(call)
    for name in _NOT_FOR_PLAIN_ORDERS:
        if call.params.get(name):
            raise not_required(name)
    if call.boolean("closePosition"):
        raise not_required("closePosition")
    if call.params.get("priceMatch", "NONE") != "NONE":
        raise errors.illegal_param("priceMatch")
    qty_text = call.decimal("quantity")
    if qty_text is None:
        raise errors.missing_param("quantity")
    quantity = check_qty(call, symbol, qty_text)
    reduce_only = call.boolean("reduceOnly")
    cid = client_id(call, "newClientOrderId")
    response_type = call.choice("newOrderRespType", ("ACK", "RESULT"), "ACK")
    price: float | None = None
    time_in_force = "GTC"
    if order_type == "LIMIT":
        price_text = call.decimal("price")
        if price_text is None:
            raise errors.missing_param("price")
        time_in_force = call.text("timeInForce")
        if time_in_force not in ("GTC", "GTX"):
            # IOC / FOK / GTD are not modelled by the sim's matching engine.
            raise errors.ApiError(-1115, "Invalid timeInForce.")
        price = check_price(call, symbol, "price", price_text)
        await check_limit_price(call, symbol, side, price, post_only=time_in_force == "GTX")
    elif call.params.get("price"):
        raise not_required("price")
    request = OrderRequest(
        symbol=symbol,
        side=side,
        type=OrderType(order_type),
        quantity=quantity,
        client_id=cid,
        reduce_only=reduce_only,
        price=price,
    )
    intent = OrderIntent(
        symbol=symbol, client_id=cid, conditional=False, time_in_force=time_in_force, price=price or 0.0
    )
    return NewOrder(request, intent, response_type)


async def check_limit_price(call: Call, symbol: str, side: Side, price: float, post_only: bool) -> None:
    """PERCENT_PRICE against the mark price, and GTX (post-only) must not take liquidity."""
    mark = await market.mark_price(call, symbol)
    if mark > 0:
        fmt = call.fmt(symbol)
        if side is Side.BUY and price > mark * float(market.PERCENT_UP):
            raise errors.ApiError(-4016, f"Limit price can't be higher than {fmt.price(mark * 1.05)}.")
        if side is Side.SELL and price < mark * float(market.PERCENT_DOWN):
            raise errors.ApiError(-4024, f"Limit price can't be lower than {fmt.price(mark * 0.95)}.")
    if post_only:
        last = (await market.last_prices(call)).get(symbol, 0.0)
        if last > 0 and (price >= last if side is Side.BUY else price <= last):
            raise errors.ApiError(-5022, POST_ONLY_REJECT_MSG)


async def new_order(call: Call) -> object:
    venue = call.venue
    venue.ledger.count_received(call.params.get("newClientOrderId", ""))
    order = await parse_order(call)
    gate_before(venue, [order], throttled_endpoint=True)
    record = await submit(venue, order)
    gate_after(venue)
    assert isinstance(record, OrderRecord)
    return order_response(
        record, call.fmt(record.symbol), with_time=False, as_ack=order.response_type == "ACK"
    )


def _batch_items(call: Call) -> list[dict[str, str]]:
    raw = call.text("batchOrders")
    try:
        items = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise errors.illegal_param("batchOrders") from None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise errors.illegal_param("batchOrders")
    if len(items) > MAX_BATCH:
        raise errors.ApiError(-4082, f"Invalid number of batch place orders. Max is {MAX_BATCH}.")
    # Clients send every value as a string; tolerate plain JSON numbers and booleans too.
    return [
        {k: v if isinstance(v, str) else msgspec.json.encode(v).decode() for k, v in i.items()} for i in items
    ]


async def batch_orders(call: Call) -> object:
    """Up to 5 orders; the reply lists, in request order, each order or its {"code","msg"} error."""
    venue = call.venue
    parsed: list[NewOrder | errors.ApiError] = []
    for item in _batch_items(call):
        venue.ledger.count_received(item.get("newClientOrderId", ""))
        try:
            parsed.append(await parse_order(Call(venue, item)))
        except errors.ApiError as exc:
            parsed.append(exc)
    gate_before(venue, [p for p in parsed if isinstance(p, NewOrder)], throttled_endpoint=True)
    results: list[object] = []
    for entry in parsed:
        if isinstance(entry, errors.ApiError):
            results.append(entry.body())
            continue
        try:
            record = await submit(venue, entry)
        except errors.ApiError as exc:
            results.append(exc.body())
            continue
        assert isinstance(record, OrderRecord)
        as_ack = entry.response_type == "ACK"
        results.append(order_response(record, call.fmt(record.symbol), with_time=False, as_ack=as_ack))
    gate_after(venue)
    return results


def find_order(call: Call, symbol: str, missing: errors.ApiError) -> OrderRecord:
    """The order named by `orderId` or `origClientOrderId`; raises `missing` if the ledger has none."""
    order_id = call.optional_int("orderId")
    orig = call.optional("origClientOrderId")
    if order_id is None and orig is None:
        raise errors.ApiError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    ledger = call.venue.ledger
    record = ledger.order(order_id) if order_id is not None else ledger.order_by_client(symbol, orig or "")
    if record is None or record.symbol != symbol:
        raise missing
    return record


async def query_order(call: Call) -> object:
    symbol = call.symbol()
    record = find_order(call, symbol, errors.no_such_order())
    if not record.algo_id:  # a triggered conditional order's child lives only in the ledger
        current = await call.venue.sim.get_order(symbol, record.client_id, False)
        if current is not None:
            call.venue.ledger.sync(current)
    return order_response(record, call.fmt(symbol), with_time=True)


async def cancel_order(call: Call) -> object:
    symbol = call.symbol()
    record = find_order(call, symbol, errors.unknown_order_cancel())
    if record.algo_id or record.status.is_final:
        raise errors.unknown_order_cancel()
    try:
        update = await call.venue.sim.cancel_order(symbol, record.client_id, False)
    except ExchangeError as exc:
        raise errors.from_exchange(exc) from None
    call.venue.ledger.sync(update)
    return order_response(record, call.fmt(symbol), with_time=False)


async def open_orders(call: Call) -> object:
    """Open plain orders only: conditional (algo) orders are not listed here on Binance."""
    symbol = call.optional_symbol()
    ledger = call.venue.ledger
    rows = []
    for update in await call.venue.sim.open_orders(symbol):
        if not update.is_conditional:
            record = ledger.sync(update)
            assert isinstance(record, OrderRecord)
            rows.append(order_response(record, call.fmt(record.symbol), with_time=True))
    return rows


async def cancel_all_open_orders(call: Call) -> object:
    symbol = call.symbol()
    sim = call.venue.sim
    for update in await sim.open_orders(symbol):
        if not update.is_conditional:
            try:
                call.venue.ledger.sync(await sim.cancel_order(symbol, update.client_id, False))
            except ExchangeError:
                pass  # filled or cancelled meanwhile: nothing left to cancel
    return CANCEL_ALL_DONE


ENDPOINTS = [
    Endpoint("POST", "/fapi/v1/order", Security.SIGNED, new_order),
    Endpoint("GET", "/fapi/v1/order", Security.SIGNED, query_order),
    Endpoint("DELETE", "/fapi/v1/order", Security.SIGNED, cancel_order),
    Endpoint("POST", "/fapi/v1/batchOrders", Security.SIGNED, batch_orders),
    Endpoint("GET", "/fapi/v1/openOrders", Security.SIGNED, open_orders),
    Endpoint("DELETE", "/fapi/v1/allOpenOrders", Security.SIGNED, cancel_all_open_orders),
]
