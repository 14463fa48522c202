"""msgspec Structs for the Binance USD-M REST answers and user-stream payloads we read (BINANCE.md §3, §4, §7).

Market-stream frames (aggTrade, markPrice) are decoded by `casino_tui.exchange.decode`, shared with replay.

Decoders run with `strict=False` so Binance's decimal strings ("42000.10") decode straight into floats.
Field names are readable; `name=` gives the wire key. Unknown keys are ignored, so new fields do no harm.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from msgspec import field

T = TypeVar("T")

# ---- user data stream --------------------------------------------------------------------------


class EventHead(msgspec.Struct):
    """Just the event type, to pick the full decoder (user events are rare; two passes are cheap)."""

    event: str = field(name="e", default="")


class OrderTradeFields(msgspec.Struct):
    symbol: str = field(name="s")
    client_id: str = field(name="c")
    side: str = field(name="S")
    order_type: str = field(name="o")
    quantity: float = field(name="q")
    status: str = field(name="X")
    order_id: int = field(name="i")
    exec_type: str = field(name="x", default="")
    time_in_force: str = field(name="f", default="")
    price: float = field(name="p", default=0.0)
    avg_price: float = field(name="ap", default=0.0)
    stop_price: float = field(name="sp", default=0.0)
    last_qty: float = field(name="l", default=0.0)
    filled_qty: float = field(name="z", default=0.0)
    last_price: float = field(name="L", default=0.0)
    fee: float = field(name="n", default=0.0)
    fee_asset: str = field(name="N", default="")
    trade_ms: int = field(name="T", default=0)
    trade_id: int = field(name="t", default=0)
    reduce_only: bool = field(name="R", default=False)
    working_type: str = field(name="wt", default="")
    orig_type: str = field(name="ot", default="")
    close_position: bool = field(name="cp", default=False)
    realized_pnl: float = field(name="rp", default=0.0)
    expiry_reason: str | int = field(name="er", default="")


class OrderTradeUpdate(msgspec.Struct):
    event_ms: int = field(name="E")
    order: OrderTradeFields = field(name="o")
    txn_ms: int = field(name="T", default=0)


class AlgoFields(msgspec.Struct):
    client_algo_id: str = field(name="caid")
    algo_id: int = field(name="aid")
    symbol: str = field(name="s")
    side: str = field(name="S")
    order_type: str = field(name="o")
    status: str = field(name="X")
    quantity: float = field(name="q", default=0.0)
    algo_type: str = field(name="at", default="CONDITIONAL")
    actual_order_id: str | int = field(name="ai", default="")
    actual_avg_price: float = field(name="ap", default=0.0)
    actual_qty: float = field(name="aq", default=0.0)
    actual_type: str = field(name="act", default="")
    trigger_price: float = field(name="tp", default=0.0)
    price: float = field(name="p", default=0.0)
    working_type: str = field(name="wt", default="")
    close_position: bool = field(name="cp", default=False)
    reduce_only: bool = field(name="R", default=False)
    trigger_ms: int = field(name="tt", default=0)
    reject_reason: str = field(name="rm", default="")


class AlgoUpdate(msgspec.Struct):
    event_ms: int = field(name="E")
    order: AlgoFields = field(name="o")
    txn_ms: int = field(name="T", default=0)


class BalanceFields(msgspec.Struct):
    asset: str = field(name="a")
    wallet: float = field(name="wb", default=0.0)
    cross_wallet: float = field(name="cw", default=0.0)
    change: float = field(name="bc", default=0.0)


class PositionFields(msgspec.Struct):
    symbol: str = field(name="s")
    amount: float = field(name="pa")
    entry_price: float = field(name="ep", default=0.0)
    unrealized_pnl: float = field(name="up", default=0.0)
    margin_type: str = field(name="mt", default="cross")
    position_side: str = field(name="ps", default="BOTH")


class AccountFields(msgspec.Struct):
    reason: str = field(name="m", default="")
    balances: list[BalanceFields] = field(name="B", default_factory=list)
    positions: list[PositionFields] = field(name="P", default_factory=list)


class AccountUpdateEvent(msgspec.Struct):
    event_ms: int = field(name="E")
    account: AccountFields = field(name="a")
    txn_ms: int = field(name="T", default=0)


class ListenKeyExpired(msgspec.Struct):
    event_ms: int = field(name="E", default=0)
    listen_key: str = field(name="listenKey", default="")


# ---- REST answers ------------------------------------------------------------------------------


class ErrorBody(msgspec.Struct):
    code: int = 0
    msg: str = ""


class ServerTime(msgspec.Struct):
    server_time: int = field(name="serverTime")


class RateLimit(msgspec.Struct):
    kind: str = field(name="rateLimitType")
    interval: str
    interval_num: int = field(name="intervalNum")
    limit: int


class SymbolFilter(msgspec.Struct):
    """One entry of `filters[]`; only the keys of the filter types we use."""

    filter_type: str = field(name="filterType")
    min_price: str = field(name="minPrice", default="0")
    max_price: str = field(name="maxPrice", default="0")
    tick_size: str = field(name="tickSize", default="0")
    min_qty: str = field(name="minQty", default="0")
    max_qty: str = field(name="maxQty", default="0")
    step_size: str = field(name="stepSize", default="0")
    notional: str = "0"
    limit: int = 0


class SymbolInfo(msgspec.Struct):
    symbol: str
    status: str = "TRADING"
    contract_type: str = field(name="contractType", default="PERPETUAL")
    base_asset: str = field(name="baseAsset", default="")
    quote_asset: str = field(name="quoteAsset", default="USDT")
    filters: list[SymbolFilter] = field(default_factory=list)


class ExchangeInfo(msgspec.Struct):
    symbols: list[SymbolInfo]
    rate_limits: list[RateLimit] = field(name="rateLimits", default_factory=list)
    server_time: int = field(name="serverTime", default=0)


class TickerPrice(msgspec.Struct, gc=False):
    symbol: str
    price: float
    time: int = 0


class DayTicker(msgspec.Struct, gc=False):
    """One row of the bulk `GET /fapi/v1/ticker/24hr`: only what choosing symbols by volume needs."""

    symbol: str
    quote_volume: float = field(name="quoteVolume", default=0.0)


# [openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBase, takerQuote, ignore]
KlineRow = tuple[int, float, float, float, float, float, int, float, int, float, float, str | float]


class OrderAnswer(msgspec.Struct):
    """POST/GET/DELETE /fapi/v1/order."""

    order_id: int = field(name="orderId")
    client_id: str = field(name="clientOrderId")
    symbol: str
    side: str
    status: str
    order_type: str = field(name="type")
    orig_type: str = field(name="origType", default="")
    quantity: float = field(name="origQty", default=0.0)
    filled_qty: float = field(name="executedQty", default=0.0)
    avg_price: float = field(name="avgPrice", default=0.0)
    price: float = 0.0
    stop_price: float = field(name="stopPrice", default=0.0)
    reduce_only: bool = field(name="reduceOnly", default=False)
    close_position: bool = field(name="closePosition", default=False)
    update_ms: int = field(name="updateTime", default=0)


class AlgoOrderAnswer(msgspec.Struct):
    """POST/GET /fapi/v1/algoOrder and the rows of /fapi/v1/openAlgoOrders."""

    algo_id: int = field(name="algoId")
    client_algo_id: str = field(name="clientAlgoId")
    symbol: str
    side: str
    order_type: str = field(name="orderType")
    status: str = field(name="algoStatus")
    quantity: float = 0.0
    trigger_price: float = field(name="triggerPrice", default=0.0)
    price: float = 0.0
    reduce_only: bool = field(name="reduceOnly", default=False)
    close_position: bool = field(name="closePosition", default=False)
    actual_order_id: str | int = field(name="actualOrderId", default="")
    create_ms: int = field(name="createTime", default=0)
    checked: bool = True
    update_ms: int = field(name="updateTime", default=0)


class AlgoCancelAnswer(msgspec.Struct):
    algo_id: int = field(name="algoId")
    client_algo_id: str = field(name="clientAlgoId", default="")
    code: str | int = "200"
    msg: str = ""


class PositionRisk(msgspec.Struct):
    symbol: str
    amount: float = field(name="positionAmt")
    entry_price: float = field(name="entryPrice", default=0.0)
    mark_price: float = field(name="markPrice", default=0.0)
    unrealized_pnl: float = field(name="unRealizedProfit", default=0.0)
    position_side: str = field(name="positionSide", default="BOTH")


class BalanceRow(msgspec.Struct):
    asset: str
    balance: float = 0.0
    cross_wallet: float = field(name="crossWalletBalance", default=0.0)
    cross_unpnl: float = field(name="crossUnPnl", default=0.0)
    available: float = field(name="availableBalance", default=0.0)


class PositionMode(msgspec.Struct):
    dual_side: bool = field(name="dualSidePosition")


class ListenKey(msgspec.Struct):
    listen_key: str = field(name="listenKey")


class ApiRestrictions(msgspec.Struct, frozen=True):
    """GET /sapi/v1/account/apiRestrictions: what the key may do. The runtime refuses withdrawal rights.

    `checked` is False where the endpoint does not exist (the futures testnet has no SAPI).
    """

    enable_reading: bool = field(name="enableReading", default=False)
    enable_futures: bool = field(name="enableFutures", default=False)
    enable_withdrawals: bool = field(name="enableWithdrawals", default=False)
    enable_internal_transfer: bool = field(name="enableInternalTransfer", default=False)
    permits_universal_transfer: bool = field(name="permitsUniversalTransfer", default=False)
    enable_margin: bool = field(name="enableMargin", default=False)
    enable_spot_and_margin_trading: bool = field(name="enableSpotAndMarginTrading", default=False)
    ip_restrict: bool = field(name="ipRestrict", default=False)
    create_ms: int = field(name="createTime", default=0)
    checked: bool = True


def decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    """A lenient decoder: decimal strings become floats, unknown keys are ignored."""
    return msgspec.json.Decoder(kind, strict=False)


EVENT_HEAD_DECODER = decoder(EventHead)
ORDER_TRADE_DECODER = decoder(OrderTradeUpdate)
ALGO_UPDATE_DECODER = decoder(AlgoUpdate)
ACCOUNT_UPDATE_DECODER = decoder(AccountUpdateEvent)
LISTEN_KEY_EXPIRED_DECODER = decoder(ListenKeyExpired)
ERROR_DECODER = decoder(ErrorBody)
