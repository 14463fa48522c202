"""Ledger records rendered as Binance writes them: REST order / algo order objects and user-stream bodies."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from casino_tui.model import OrderStatus
from casino_tui.sandbox.events import AlgoBody, OrderBody
from casino_tui.sandbox.ledger import AlgoRecord, Fill, OrderRecord
from casino_tui.sandbox.numbers import SymbolFormat, money


class OrderResponse(msgspec.Struct, kw_only=True, rename="camel"):
    """POST/GET/DELETE /fapi/v1/order (and openOrders rows); `time` only on queries."""

    client_order_id: str
    cum_qty: str
    cum_quote: str
    executed_qty: str
    order_id: int
    avg_price: str
    orig_qty: str
    price: str
    reduce_only: bool
    side: str
    position_side: str
    status: str
    stop_price: str
    close_position: bool
    symbol: str
    time_in_force: str
    type: str
    orig_type: str
    update_time: int
    working_type: str
    price_protect: bool
    price_match: str = "NONE"
    self_trade_prevention_mode: str = "EXPIRE_MAKER"
    good_till_date: int = 0
    time: int | UnsetType = UNSET


class AlgoOrderResponse(msgspec.Struct, kw_only=True, rename="camel"):
    """The algo order object of /fapi/v1/algoOrder (POST and GET) and of openAlgoOrders rows."""

    algo_id: int
    client_algo_id: str
    algo_type: str
    order_type: str
    symbol: str
    side: str
    position_side: str
    time_in_force: str
    quantity: str
    algo_status: str
    trigger_price: str
    price: str
    iceberg_quantity: None
    self_trade_prevention_mode: str
    working_type: str
    price_match: str
    close_position: bool
    price_protect: bool
    reduce_only: bool
    activate_price: str
    callback_rate: str
    create_time: int
    update_time: int
    trigger_time: int
    good_till_date: int
    actual_order_id: str
    actual_price: str
    tp_trigger_price: str = "0.000"
    tp_price: str = "0.000"
    sl_trigger_price: str = "0.000"
    sl_price: str = "0.000"
    tp_order_type: str = ""


def order_response(
    record: OrderRecord, fmt: SymbolFormat, *, with_time: bool, as_ack: bool = False
) -> OrderResponse:
    """The REST order object; `as_ack` answers as before matching (NEW, nothing executed), like ACK."""
    executed = 0.0 if as_ack else record.executed_qty
    avg = 0.0 if as_ack else record.avg_price
    return OrderResponse(
        client_order_id=record.client_id,
        cum_qty=fmt.qty(executed),
        cum_quote=money(executed * avg) if executed else "0",
        executed_qty=fmt.qty(executed),
        order_id=record.order_id,
        avg_price=fmt.price(avg) if avg else "0.00",
        orig_qty=fmt.qty(record.orig_qty),
        price=fmt.price(record.price),
        reduce_only=record.reduce_only,
        side=record.side.value,
        position_side="BOTH",
        status=OrderStatus.NEW.value if as_ack else record.status.value,
        stop_price=fmt.price(record.stop_price),
        close_position=record.close_position,
        symbol=record.symbol,
        time_in_force=record.time_in_force,
        type=record.order_type,
        orig_type=record.orig_type,
        update_time=record.create_ms if as_ack else record.update_ms,
        working_type=record.working_type,
        price_protect=record.price_protect,
        time=record.create_ms if with_time else UNSET,
    )


def algo_response(algo: AlgoRecord, fmt: SymbolFormat) -> AlgoOrderResponse:
    return AlgoOrderResponse(
        algo_id=algo.algo_id,
        client_algo_id=algo.client_algo_id,
        algo_type="CONDITIONAL",
        order_type=algo.order_type.value,
        symbol=algo.symbol,
        side=algo.side.value,
        position_side="BOTH",
        time_in_force=algo.time_in_force,
        quantity=fmt.qty(algo.quantity),
        algo_status=algo.status.value,
        trigger_price=fmt.price(algo.trigger_price),
        price=fmt.price(algo.price),
        iceberg_quantity=None,
        self_trade_prevention_mode="EXPIRE_MAKER",
        working_type=algo.working_type,
        price_match="NONE",
        close_position=algo.close_position,
        price_protect=algo.price_protect,
        reduce_only=algo.reduce_only,
        activate_price="",
        callback_rate="",
        create_time=algo.create_ms,
        update_time=algo.update_ms,
        trigger_time=algo.trigger_ms,
        good_till_date=0,
        actual_order_id=str(algo.child_order_id) if algo.child_order_id else "",
        actual_price=fmt.price(algo.child_avg_price),
    )


_EXECUTION_TYPE = {
    OrderStatus.NEW: "NEW",
    OrderStatus.PARTIALLY_FILLED: "TRADE",
    OrderStatus.FILLED: "TRADE",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "EXPIRED",
}


def order_body(record: OrderRecord, fmt: SymbolFormat, fill: Fill | None) -> OrderBody:
    """The `o` of ORDER_TRADE_UPDATE for the record's current state; `fill` is the execution that caused it."""
    status = record.status
    return OrderBody(
        symbol=record.symbol,
        client_order_id=record.client_id,
        side=record.side.value,
        order_type=record.order_type,
        time_in_force=record.time_in_force,
        orig_qty=fmt.qty(record.orig_qty),
        price=fmt.price(record.price),
        avg_price=fmt.price(record.avg_price),
        stop_price=fmt.price(record.stop_price),
        execution_type="TRADE" if fill else _EXECUTION_TYPE.get(status, "NEW"),
        status=OrderStatus.EXPIRED.value if status is OrderStatus.REJECTED else status.value,
        order_id=record.order_id,
        last_qty=fmt.qty(fill.qty) if fill else "0",
        cum_qty=fmt.qty(record.executed_qty),
        last_price=fmt.price(fill.price) if fill else "0",
        commission_asset="USDT" if fill else UNSET,
        commission=money(fill.commission) if fill else UNSET,
        trade_time=record.update_ms,
        trade_id=fill.trade_id if fill else 0,
        bids_notional="0",
        asks_notional="0",
        is_maker=fill.is_maker if fill else False,
        reduce_only=record.reduce_only,
        working_type=record.working_type,
        orig_type=record.orig_type,
        close_position=record.close_position,
        price_protect=record.price_protect,
        realized_profit=money(fill.realized_pnl) if fill else "0",
    )


def algo_body(algo: AlgoRecord, fmt: SymbolFormat) -> AlgoBody:
    """The `o` of ALGO_UPDATE for the algo order's current state."""
    return AlgoBody(
        client_algo_id=algo.client_algo_id,
        algo_id=algo.algo_id,
        order_type=algo.order_type.value,
        symbol=algo.symbol,
        side=algo.side.value,
        time_in_force=algo.time_in_force,
        quantity=fmt.qty(algo.quantity),
        status=algo.status.value,
        actual_order_id=str(algo.child_order_id) if algo.child_order_id else "",
        actual_avg_price=fmt.price(algo.child_avg_price),
        actual_qty=fmt.qty(algo.child_qty),
        actual_order_type="MARKET" if algo.child_order_id else "",
        trigger_price=fmt.price(algo.trigger_price),
        price=fmt.price(algo.price),
        working_type=algo.working_type,
        close_position=algo.close_position,
        price_protect=algo.price_protect,
        reduce_only=algo.reduce_only,
        trigger_time=algo.trigger_ms,
        reason=algo.reason,
    )
