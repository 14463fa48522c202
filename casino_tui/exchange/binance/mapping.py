"""Binance wire Structs → domain types (`OrderUpdate`, `Position`, `Balance`, `AccountUpdate`).

Conditional (algo) orders map to `OrderUpdate(is_conditional=True, order_id=<algoId>,
client_id=<clientAlgoId>)`; a triggered one reads TRIGGERED, and FINISHED becomes FILLED when its child
order filled, EXPIRED when it did not.
"""

from __future__ import annotations

from casino_tui.exchange.binance.codec import (
    AccountUpdateEvent,
    AlgoFields,
    AlgoOrderAnswer,
    BalanceRow,
    OrderAnswer,
    OrderTradeFields,
    PositionRisk,
)
from casino_tui.model import AccountUpdate, Balance, OrderStatus, OrderType, OrderUpdate, Position, Side

CONDITIONAL_WIRE_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT"})

_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}

_ALGO_STATUS = {
    "NEW": OrderStatus.NEW,
    "TRIGGERING": OrderStatus.TRIGGERED,
    "TRIGGERED": OrderStatus.TRIGGERED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}


def order_type(wire: str) -> OrderType:
    """Our four order types; Binance's others (LIQUIDATION, TRAILING_STOP_MARKET, ...) read as MARKET."""
    if wire in ("LIMIT", "MARKET"):
        return OrderType(wire)
    if wire.startswith("TAKE_PROFIT"):
        return OrderType.TAKE_PROFIT_MARKET
    if wire.startswith("STOP"):
        return OrderType.STOP_MARKET
    return OrderType.MARKET


def order_status(wire: str) -> OrderStatus:
    return _STATUS.get(wire, OrderStatus.NEW)


def algo_status(wire: str, child_filled_qty: float) -> OrderStatus:
    """FINISHED means the child order ended: FILLED if it traded anything, EXPIRED if not."""
    if wire == "FINISHED":
        return OrderStatus.FILLED if child_filled_qty > 0 else OrderStatus.EXPIRED
    return _ALGO_STATUS.get(wire, OrderStatus.NEW)


def from_order_answer(answer: OrderAnswer) -> OrderUpdate:
    return OrderUpdate(
        symbol=answer.symbol,
        client_id=answer.client_id,
        order_id=str(answer.order_id),
        side=Side(answer.side),
        type=order_type(answer.order_type),
        status=order_status(answer.status),
        quantity=answer.quantity,
        filled_qty=answer.filled_qty,
        avg_price=answer.avg_price,
        reduce_only=answer.reduce_only,
        close_position=answer.close_position,
        ts_ms=answer.update_ms,
    )


def from_algo_answer(answer: AlgoOrderAnswer) -> OrderUpdate:
    return OrderUpdate(
        symbol=answer.symbol,
        client_id=answer.client_algo_id,
        order_id=str(answer.algo_id),
        side=Side(answer.side),
        type=order_type(answer.order_type),
        status=algo_status(answer.status, 0.0),
        quantity=answer.quantity,
        trigger_price=answer.trigger_price or None,
        reduce_only=answer.reduce_only,
        close_position=answer.close_position,
        is_conditional=True,
        ts_ms=answer.update_ms or answer.create_ms,
    )


def from_order_event(o: OrderTradeFields, event_ms: int) -> OrderUpdate:
    reason = o.exec_type if o.exec_type not in ("", "NEW", "TRADE") else ""
    if o.expiry_reason not in ("", 0, "0"):
        reason = f"{reason} er={o.expiry_reason}".strip()
    return OrderUpdate(
        symbol=o.symbol,
        client_id=o.client_id,
        order_id=str(o.order_id),
        side=Side(o.side),
        type=order_type(o.order_type),
        status=order_status(o.status),
        quantity=o.quantity,
        filled_qty=o.filled_qty,
        avg_price=o.avg_price,
        last_qty=o.last_qty,
        last_price=o.last_price,
        fee=o.fee,
        realized_pnl=o.realized_pnl,
        trigger_price=o.stop_price or None,
        reduce_only=o.reduce_only,
        close_position=o.close_position,
        ts_ms=o.trade_ms or event_ms,
        reason=reason,
    )


def child_fill_update(child: OrderTradeFields, parent: OrderUpdate, event_ms: int) -> OrderUpdate:
    """A triggered conditional's child order event, reported under the conditional's own ids."""
    return OrderUpdate(
        symbol=parent.symbol,
        client_id=parent.client_id,
        order_id=parent.order_id,
        side=parent.side,
        type=parent.type,
        status=order_status(child.status),
        quantity=child.quantity or parent.quantity,
        filled_qty=child.filled_qty,
        avg_price=child.avg_price,
        last_qty=child.last_qty,
        last_price=child.last_price,
        fee=child.fee,
        realized_pnl=child.realized_pnl,
        trigger_price=parent.trigger_price,
        reduce_only=parent.reduce_only,
        close_position=parent.close_position,
        is_conditional=True,
        ts_ms=child.trade_ms or event_ms,
        reason=f"child {child.order_id}",
    )


def from_algo_event(o: AlgoFields, event_ms: int) -> OrderUpdate:
    return OrderUpdate(
        symbol=o.symbol,
        client_id=o.client_algo_id,
        order_id=str(o.algo_id),
        side=Side(o.side),
        type=order_type(o.order_type),
        status=algo_status(o.status, o.actual_qty),
        quantity=o.quantity,
        filled_qty=o.actual_qty,
        avg_price=o.actual_avg_price,
        trigger_price=o.trigger_price or None,
        reduce_only=o.reduce_only,
        close_position=o.close_position,
        is_conditional=True,
        ts_ms=o.trigger_ms or event_ms,
        reason=o.reject_reason,
    )


def from_account_event(event: AccountUpdateEvent) -> AccountUpdate:
    account = event.account
    return AccountUpdate(
        balances=tuple(
            Balance(asset=b.asset, wallet=b.wallet, available=b.cross_wallet) for b in account.balances
        ),
        positions=tuple(
            Position(
                symbol=p.symbol, qty=p.amount, entry_price=p.entry_price, unrealized_pnl=p.unrealized_pnl
            )
            for p in account.positions
        ),
        reason=account.reason,
        ts_ms=event.txn_ms or event.event_ms,
    )


def from_position_risk(row: PositionRisk) -> Position:
    return Position(
        symbol=row.symbol,
        qty=row.amount,
        entry_price=row.entry_price,
        mark_price=row.mark_price,
        unrealized_pnl=row.unrealized_pnl,
    )


def from_balance_row(row: BalanceRow) -> Balance:
    return Balance(
        asset=row.asset, wallet=row.balance, available=row.available, unrealized_pnl=row.cross_unpnl
    )
