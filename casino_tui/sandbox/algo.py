"""Algo Service endpoints for conditional orders: /fapi/v1/algoOrder, openAlgoOrders, algoOpenOrders.

The sim triggers STOP_MARKET and TAKE_PROFIT_MARKET on trade prices (workingType is kept and echoed, but
MARK_PRICE triggers on trades too); STOP, TAKE_PROFIT and TRAILING_STOP_MARKET are not modelled (-1116).
"""

from __future__ import annotations

from casino_tui.model import OrderRequest, OrderType
from casino_tui.port import ExchangeError
from casino_tui.sandbox import errors
from casino_tui.sandbox.endpoint import Call, Endpoint, Security
from casino_tui.sandbox.ledger import AlgoRecord, AlgoStatus, OrderIntent
from casino_tui.sandbox.placement import (
    NewOrder,
    check_price,
    check_qty,
    client_id,
    gate_after,
    gate_before,
    submit,
)
from casino_tui.sandbox.render import algo_response
from casino_tui.sandbox.rest import CANCEL_ALL_DONE, not_required, one_way_only, side_of

SUPPORTED_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")


def parse_algo_order(call: Call) -> NewOrder:
    """Validate a CONDITIONAL algo order (New-Algo-Order.md parameters)."""
    if call.text("algoType") != "CONDITIONAL":
        raise errors.illegal_param("algoType")
    symbol = call.symbol()
    side = side_of(call)
    order_type = call.text("type")
    if order_type not in SUPPORTED_TYPES:
        raise errors.ApiError(-1116, "Invalid orderType.")
    one_way_only(call)
    for name in ("price", "activatePrice", "callbackRate"):
        if call.params.get(name):
            raise not_required(name)
    trigger_text = call.decimal("triggerPrice")
    if trigger_text is None:
        raise errors.missing_param("triggerPrice")
    trigger = check_price(call, symbol, "triggerPrice", trigger_text)
    close_position = call.boolean("closePosition")
    qty_text = call.decimal("quantity")
    if close_position:
        if qty_text is not None:
            raise not_required("quantity")
        if call.params.get("reduceOnly"):
            raise not_required("reduceOnly")
        quantity = 0.0
    elif qty_text is None:
        raise errors.missing_param("quantity")
    else:
        quantity = check_qty(call, symbol, qty_text)
    cid = client_id(call, "clientAlgoId")
    working_type = call.choice("workingType", ("MARK_PRICE", "CONTRACT_PRICE"), "CONTRACT_PRICE")
    request = OrderRequest(
        symbol=symbol,
        side=side,
        type=OrderType(order_type),
        quantity=quantity,
        client_id=cid,
        reduce_only=call.boolean("reduceOnly"),
        close_position=close_position,
        trigger_price=trigger,
    )
    intent = OrderIntent(
        symbol=symbol,
        client_id=cid,
        conditional=True,
        time_in_force=call.choice("timeInForce", ("GTC", "IOC", "FOK", "GTX"), "GTC"),
        working_type=working_type,
        price_protect=call.boolean("priceProtect"),
    )
    return NewOrder(request, intent, call.choice("newOrderRespType", ("ACK", "RESULT"), "ACK"))


async def new_algo_order(call: Call) -> object:
    venue = call.venue
    venue.ledger.count_received(call.params.get("clientAlgoId", ""))
    order = parse_algo_order(call)
    gate_before(venue, [order], throttled_endpoint=False)
    record = await submit(venue, order)
    gate_after(venue)
    assert isinstance(record, AlgoRecord)
    return algo_response(record, call.fmt(record.symbol))


def find_algo(call: Call, missing: errors.ApiError) -> AlgoRecord:
    algo_id = call.optional_int("algoId")
    client_algo_id = call.optional("clientAlgoId")
    if algo_id is None and client_algo_id is None:
        raise errors.ApiError(
            -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!"
        )
    ledger = call.venue.ledger
    record = ledger.algo(algo_id) if algo_id is not None else ledger.algo_by_client(client_algo_id or "")
    if record is None:
        raise missing
    return record


async def query_algo_order(call: Call) -> object:
    record = find_algo(call, errors.no_such_order())
    return algo_response(record, call.fmt(record.symbol))


async def cancel_algo_order(call: Call) -> object:
    record = find_algo(call, errors.unknown_order_cancel())
    if record.status is not AlgoStatus.NEW:
        raise errors.unknown_order_cancel()
    try:
        update = await call.venue.sim.cancel_order(record.symbol, record.client_algo_id, True)
    except ExchangeError as exc:
        raise errors.from_exchange(exc) from None
    call.venue.ledger.sync(update)
    # Binance writes this `code` as a string, unlike every other success body.
    return {"algoId": record.algo_id, "clientAlgoId": record.client_algo_id, "code": "200", "msg": "success"}


async def open_algo_orders(call: Call) -> object:
    symbol = call.optional_symbol()
    if call.params.get("algoType", "CONDITIONAL") != "CONDITIONAL":
        raise errors.illegal_param("algoType")
    wanted = call.optional_int("algoId")
    rows = []
    for update in await call.venue.sim.open_orders(symbol):
        if update.is_conditional:
            record = call.venue.ledger.sync(update)
            assert isinstance(record, AlgoRecord)
            if wanted is None or record.algo_id == wanted:
                rows.append(algo_response(record, call.fmt(record.symbol)))
    return rows


async def cancel_all_algo_orders(call: Call) -> object:
    symbol = call.symbol()
    sim = call.venue.sim
    for update in await sim.open_orders(symbol):
        if update.is_conditional:
            try:
                call.venue.ledger.sync(await sim.cancel_order(symbol, update.client_id, True))
            except ExchangeError:
                pass  # triggered meanwhile: no longer cancellable
    return CANCEL_ALL_DONE


ENDPOINTS = [
    Endpoint("POST", "/fapi/v1/algoOrder", Security.SIGNED, new_algo_order),
    Endpoint("GET", "/fapi/v1/algoOrder", Security.SIGNED, query_algo_order),
    Endpoint("DELETE", "/fapi/v1/algoOrder", Security.SIGNED, cancel_algo_order),
    Endpoint("GET", "/fapi/v1/openAlgoOrders", Security.SIGNED, open_algo_orders),
    Endpoint("DELETE", "/fapi/v1/algoOpenOrders", Security.SIGNED, cancel_all_algo_orders),
]
