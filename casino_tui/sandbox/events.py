"""WebSocket payloads exactly as Binance USD-M sends them (BINANCE.md §7, §4), as msgspec Structs.

Attribute names say what a field is; `name=` gives Binance's one-letter key. Field order follows the docs.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

# -- market streams -------------------------------------------------------------------------------------


class AggTradeEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="aggTrade", name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    agg_id: int = msgspec.field(name="a")
    price: str = msgspec.field(name="p")
    qty: str = msgspec.field(name="q")
    qty_without_rpi: str = msgspec.field(name="nq")
    first_trade_id: int = msgspec.field(name="f")
    last_trade_id: int = msgspec.field(name="l")
    trade_time: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")


class TradeEvent(msgspec.Struct, kw_only=True):
    """`<symbol>@trade`: not in the USD-M docs, but served by fstream and used by ccxt's watchTrades."""

    event_type: str = msgspec.field(default="trade", name="e")
    event_time: int = msgspec.field(name="E")
    trade_time: int = msgspec.field(name="T")
    symbol: str = msgspec.field(name="s")
    trade_id: int = msgspec.field(name="t")
    price: str = msgspec.field(name="p")
    qty: str = msgspec.field(name="q")
    execution: str = msgspec.field(default="MARKET", name="X")
    buyer_is_maker: bool = msgspec.field(name="m")


class MarkPriceEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="markPriceUpdate", name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    mark_price: str = msgspec.field(name="p")
    mark_price_average: str = msgspec.field(name="ap")
    index_price: str = msgspec.field(name="i")
    estimated_settle_price: str = msgspec.field(name="P")
    funding_rate: str = msgspec.field(name="r")
    next_funding_time: int = msgspec.field(name="T")


class KlineBody(msgspec.Struct, kw_only=True):
    open_time: int = msgspec.field(name="t")
    close_time: int = msgspec.field(name="T")
    symbol: str = msgspec.field(name="s")
    interval: str = msgspec.field(name="i")
    first_trade_id: int = msgspec.field(name="f")
    last_trade_id: int = msgspec.field(name="L")
    open: str = msgspec.field(name="o")
    close: str = msgspec.field(name="c")
    high: str = msgspec.field(name="h")
    low: str = msgspec.field(name="l")
    volume: str = msgspec.field(name="v")
    trades: int = msgspec.field(name="n")
    is_closed: bool = msgspec.field(name="x")
    quote_volume: str = msgspec.field(name="q")
    taker_buy_volume: str = msgspec.field(name="V")
    taker_buy_quote_volume: str = msgspec.field(name="Q")
    ignore: str = msgspec.field(default="0", name="B")


class KlineEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="kline", name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    kline: KlineBody = msgspec.field(name="k")


class BookTickerEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="bookTicker", name="e")
    update_id: int = msgspec.field(name="u")
    event_time: int = msgspec.field(name="E")
    transaction_time: int = msgspec.field(name="T")
    symbol: str = msgspec.field(name="s")
    bid_price: str = msgspec.field(name="b")
    bid_qty: str = msgspec.field(name="B")
    ask_price: str = msgspec.field(name="a")
    ask_qty: str = msgspec.field(name="A")


class ContinuousKlineBody(msgspec.Struct, kw_only=True):
    """The `k` of continuous_kline: a kline body without the symbol (the event names the pair)."""

    open_time: int = msgspec.field(name="t")
    close_time: int = msgspec.field(name="T")
    interval: str = msgspec.field(name="i")
    first_trade_id: int = msgspec.field(name="f")
    last_trade_id: int = msgspec.field(name="L")
    open: str = msgspec.field(name="o")
    close: str = msgspec.field(name="c")
    high: str = msgspec.field(name="h")
    low: str = msgspec.field(name="l")
    volume: str = msgspec.field(name="v")
    trades: int = msgspec.field(name="n")
    is_closed: bool = msgspec.field(name="x")
    quote_volume: str = msgspec.field(name="q")
    taker_buy_volume: str = msgspec.field(name="V")
    taker_buy_quote_volume: str = msgspec.field(name="Q")
    ignore: str = msgspec.field(default="0", name="B")


class ContinuousKlineEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="continuous_kline", name="e")
    event_time: int = msgspec.field(name="E")
    pair: str = msgspec.field(name="ps")
    contract_type: str = msgspec.field(default="PERPETUAL", name="ct")
    kline: ContinuousKlineBody = msgspec.field(name="k")


class DepthUpdateEvent(msgspec.Struct, kw_only=True):
    """Partial (`@depth<N>`: the top N levels) and diff (`@depth`: changed levels) book streams."""

    event_type: str = msgspec.field(default="depthUpdate", name="e")
    event_time: int = msgspec.field(name="E")
    transaction_time: int = msgspec.field(name="T")
    symbol: str = msgspec.field(name="s")
    first_update_id: int = msgspec.field(name="U")
    final_update_id: int = msgspec.field(name="u")
    previous_final_update_id: int = msgspec.field(name="pu")
    bids: list[list[str]] = msgspec.field(name="b")
    asks: list[list[str]] = msgspec.field(name="a")


class MiniTickerEvent(msgspec.Struct, kw_only=True):
    """24 h rolling statistics, short form (`@miniTicker`, `!miniTicker@arr`)."""

    event_type: str = msgspec.field(default="24hrMiniTicker", name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    close: str = msgspec.field(name="c")
    open: str = msgspec.field(name="o")
    high: str = msgspec.field(name="h")
    low: str = msgspec.field(name="l")
    volume: str = msgspec.field(name="v")
    quote_volume: str = msgspec.field(name="q")


class TickerEvent(msgspec.Struct, kw_only=True):
    """24 h rolling statistics (`@ticker`, `!ticker@arr`)."""

    event_type: str = msgspec.field(default="24hrTicker", name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    price_change: str = msgspec.field(name="p")
    price_change_percent: str = msgspec.field(name="P")
    weighted_average: str = msgspec.field(name="w")
    last_price: str = msgspec.field(name="c")
    last_qty: str = msgspec.field(name="Q")
    open: str = msgspec.field(name="o")
    high: str = msgspec.field(name="h")
    low: str = msgspec.field(name="l")
    volume: str = msgspec.field(name="v")
    quote_volume: str = msgspec.field(name="q")
    open_time: int = msgspec.field(name="O")
    close_time: int = msgspec.field(name="C")
    first_trade_id: int = msgspec.field(name="F")
    last_trade_id: int = msgspec.field(name="L")
    trades: int = msgspec.field(name="n")


# -- user data stream -----------------------------------------------------------------------------------


class OrderBody(msgspec.Struct, kw_only=True):
    """The `o` object of ORDER_TRADE_UPDATE. Commission keys are absent when there was no fill."""

    symbol: str = msgspec.field(name="s")
    client_order_id: str = msgspec.field(name="c")
    side: str = msgspec.field(name="S")
    order_type: str = msgspec.field(name="o")
    time_in_force: str = msgspec.field(name="f")
    orig_qty: str = msgspec.field(name="q")
    price: str = msgspec.field(name="p")
    avg_price: str = msgspec.field(name="ap")
    stop_price: str = msgspec.field(name="sp")
    execution_type: str = msgspec.field(name="x")
    status: str = msgspec.field(name="X")
    order_id: int = msgspec.field(name="i")
    last_qty: str = msgspec.field(name="l")
    cum_qty: str = msgspec.field(name="z")
    last_price: str = msgspec.field(name="L")
    commission_asset: str | UnsetType = msgspec.field(default=UNSET, name="N")
    commission: str | UnsetType = msgspec.field(default=UNSET, name="n")
    trade_time: int = msgspec.field(name="T")
    trade_id: int = msgspec.field(name="t")
    bids_notional: str = msgspec.field(name="b")
    asks_notional: str = msgspec.field(name="a")
    is_maker: bool = msgspec.field(name="m")
    reduce_only: bool = msgspec.field(name="R")
    working_type: str = msgspec.field(name="wt")
    orig_type: str = msgspec.field(name="ot")
    position_side: str = msgspec.field(default="BOTH", name="ps")
    close_position: bool = msgspec.field(name="cp")
    price_protect: bool = msgspec.field(default=False, name="pP")
    ignore_si: int = msgspec.field(default=0, name="si")
    ignore_ss: int = msgspec.field(default=0, name="ss")
    realized_profit: str = msgspec.field(name="rp")
    stp_mode: str = msgspec.field(default="EXPIRE_MAKER", name="V")
    price_match: str = msgspec.field(default="NONE", name="pm")
    good_till_date: int = msgspec.field(default=0, name="gtd")
    expiry_reason: str = msgspec.field(default="0", name="er")


class OrderTradeUpdateEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="ORDER_TRADE_UPDATE", name="e")
    event_time: int = msgspec.field(name="E")
    transaction_time: int = msgspec.field(name="T")
    order: OrderBody = msgspec.field(name="o")


class AlgoBody(msgspec.Struct, kw_only=True):
    """The `o` object of ALGO_UPDATE (Event-Algo-Order-Update)."""

    client_algo_id: str = msgspec.field(name="caid")
    algo_id: int = msgspec.field(name="aid")
    algo_type: str = msgspec.field(default="CONDITIONAL", name="at")
    order_type: str = msgspec.field(name="o")
    symbol: str = msgspec.field(name="s")
    side: str = msgspec.field(name="S")
    position_side: str = msgspec.field(default="BOTH", name="ps")
    time_in_force: str = msgspec.field(name="f")
    quantity: str = msgspec.field(name="q")
    status: str = msgspec.field(name="X")
    actual_order_id: str = msgspec.field(name="ai")
    actual_avg_price: str = msgspec.field(name="ap")
    actual_qty: str = msgspec.field(name="aq")
    actual_order_type: str = msgspec.field(name="act")
    trigger_price: str = msgspec.field(name="tp")
    price: str = msgspec.field(name="p")
    stp_mode: str = msgspec.field(default="EXPIRE_MAKER", name="V")
    working_type: str = msgspec.field(name="wt")
    price_match: str = msgspec.field(default="NONE", name="pm")
    close_position: bool = msgspec.field(name="cp")
    price_protect: bool = msgspec.field(default=False, name="pP")
    reduce_only: bool = msgspec.field(name="R")
    trigger_time: int = msgspec.field(name="tt")
    good_till_date: int = msgspec.field(default=0, name="gtd")
    reason: str = msgspec.field(default="", name="rm")


class AlgoUpdateEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="ALGO_UPDATE", name="e")
    transaction_time: int = msgspec.field(name="T")
    event_time: int = msgspec.field(name="E")
    order: AlgoBody = msgspec.field(name="o")


class BalanceEntry(msgspec.Struct, kw_only=True):
    asset: str = msgspec.field(name="a")
    wallet_balance: str = msgspec.field(name="wb")
    cross_wallet_balance: str = msgspec.field(name="cw")
    balance_change: str = msgspec.field(name="bc")


class PositionEntry(msgspec.Struct, kw_only=True):
    symbol: str = msgspec.field(name="s")
    position_amt: str = msgspec.field(name="pa")
    entry_price: str = msgspec.field(name="ep")
    breakeven_price: str = msgspec.field(name="bep")
    accumulated_realized: str = msgspec.field(name="cr")
    unrealized_pnl: str = msgspec.field(name="up")
    margin_type: str = msgspec.field(name="mt")
    isolated_wallet: str = msgspec.field(default="0", name="iw")
    position_side: str = msgspec.field(default="BOTH", name="ps")


class AccountBody(msgspec.Struct, kw_only=True):
    reason: str = msgspec.field(name="m")
    balances: list[BalanceEntry] = msgspec.field(name="B")
    positions: list[PositionEntry] = msgspec.field(name="P")


class AccountUpdateEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="ACCOUNT_UPDATE", name="e")
    event_time: int = msgspec.field(name="E")
    transaction_time: int = msgspec.field(name="T")
    account: AccountBody = msgspec.field(name="a")


class LeverageBody(msgspec.Struct, kw_only=True):
    symbol: str = msgspec.field(name="s")
    leverage: int = msgspec.field(name="l")


class AccountConfigUpdateEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="ACCOUNT_CONFIG_UPDATE", name="e")
    event_time: int = msgspec.field(name="E")
    transaction_time: int = msgspec.field(name="T")
    leverage: LeverageBody = msgspec.field(name="ac")


class ListenKeyExpiredEvent(msgspec.Struct, kw_only=True):
    event_type: str = msgspec.field(default="listenKeyExpired", name="e")
    event_time: int = msgspec.field(name="E")
    listen_key: str = msgspec.field(name="listenKey")


UserEvent = OrderTradeUpdateEvent | AlgoUpdateEvent | AccountUpdateEvent | AccountConfigUpdateEvent
