"""Domain types shared by the engine and the exchange layer.

Market data is float64; order prices and quantities are snapped to the symbol's filters and formatted as
exact decimal strings only at the wire (see `SymbolRules`).
"""

from __future__ import annotations

import enum
import math
from decimal import Decimal

import msgspec

TIMEFRAMES: tuple[str, ...] = ("1m", "5m", "15m", "1h")
TIMEFRAME_MS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}


class Side(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(enum.StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"

    @property
    def is_conditional(self) -> bool:
        return self in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


class OrderStatus(enum.StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    # A conditional order whose trigger fired; its child market order carries on as a plain order.
    TRIGGERED = "TRIGGERED"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)


class BracketState(enum.StrEnum):
    """Where a bracket is in its life; the legal moves between them are the engine's (brackets/machine.py)."""

    PENDING_ENTRY = "PENDING_ENTRY"  # the market entry is sent, no fill yet
    OPEN_UNPROTECTED = "OPEN_UNPROTECTED"  # filled; TP and SL not both acknowledged
    PROTECTED = "PROTECTED"  # both legs live on the exchange
    CLOSING = "CLOSING"  # a leg fired, or we are closing the position ourselves
    CLOSED = "CLOSED"
    ENTRY_REJECTED = "ENTRY_REJECTED"  # the entry never filled; goes straight on to CLOSED(REJECTED)
    PROTECT_FAILED = "PROTECT_FAILED"  # a leg could not be placed; the position is closed at once

    @property
    def is_active(self) -> bool:
        """Whether the bracket still occupies its symbol (everything but CLOSED)."""
        return self is not BracketState.CLOSED


class CloseReason(enum.StrEnum):
    """Why a bracket closed (or is closing); NONE until there is a reason."""

    NONE = ""
    TP = "TP"
    SL = "SL"
    SWEEP = "SWEEP"
    MANUAL = "MANUAL"
    REJECTED = "REJECTED"
    PROTECT_FAILED = "PROTECT_FAILED"
    RECONCILED = "RECONCILED"


class Trade(msgspec.Struct, frozen=True, gc=False):
    """One public trade (Binance aggTrade)."""

    symbol: str
    price: float
    qty: float
    ts_ms: int
    buyer_is_maker: bool = False


class Candle(msgspec.Struct, frozen=True, gc=False):
    """An OHLCV candle; `open_ms` is the interval start."""

    symbol: str
    timeframe: str
    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int = 0
    closed: bool = True


def _decimals(step: str) -> int:
    d = Decimal(step).normalize()
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


class SymbolRules(msgspec.Struct, frozen=True):
    """Exchange filters for one symbol (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL)."""

    symbol: str
    tick_size: str
    step_size: str
    min_qty: str
    max_qty: str
    min_notional: str
    market_max_qty: str = "0"
    min_price: str = "0"
    max_price: str = "0"
    base_asset: str = ""
    quote_asset: str = "USDT"
    status: str = "TRADING"

    def snap_price(self, price: float) -> float:
        """Nearest multiple of tickSize."""
        tick = float(self.tick_size)
        return round(round(price / tick) * tick, _decimals(self.tick_size))

    def snap_qty(self, qty: float) -> float:
        """Largest multiple of stepSize not above `qty` (never round a size up)."""
        step = float(self.step_size)
        return round(math.floor(qty / step + 1e-9) * step, _decimals(self.step_size))

    def format_price(self, price: float) -> str:
        return f"{self.snap_price(price):.{_decimals(self.tick_size)}f}"

    def format_qty(self, qty: float) -> str:
        return f"{self.snap_qty(qty):.{_decimals(self.step_size)}f}"

    def qty_for_notional(self, notional: float, price: float) -> float:
        """Quantity worth `notional` at `price`, snapped down, or 0 if below the filters."""
        if price <= 0:
            return 0.0
        qty = self.snap_qty(notional / price)
        if qty < float(self.min_qty) or qty * price < float(self.min_notional):
            return 0.0
        cap = float(self.market_max_qty) or float(self.max_qty)
        if cap and qty > cap:
            qty = self.snap_qty(cap)
        return qty


class OrderRequest(msgspec.Struct, frozen=True):
    """What the OrderExecutor asks the exchange to do. `client_id` is deterministic (see OCOManager)."""

    symbol: str
    side: Side
    type: OrderType
    quantity: float
    client_id: str
    reduce_only: bool = False
    close_position: bool = False
    trigger_price: float | None = None
    price: float | None = None


class OrderUpdate(msgspec.Struct, frozen=True):
    """An order's state as reported by the exchange (REST answer or user-stream event).

    `filled_qty` is cumulative; `last_qty`/`last_price` describe the fill that caused this update, if any.
    For conditional orders `is_conditional` is True and `order_id` is the algo id.
    """

    symbol: str
    client_id: str
    order_id: str
    side: Side
    type: OrderType
    status: OrderStatus
    quantity: float
    filled_qty: float = 0.0
    avg_price: float = 0.0
    last_qty: float = 0.0
    last_price: float = 0.0
    fee: float = 0.0
    realized_pnl: float = 0.0
    trigger_price: float | None = None
    reduce_only: bool = False
    close_position: bool = False
    is_conditional: bool = False
    ts_ms: int = 0
    reason: str = ""


class Position(msgspec.Struct, frozen=True):
    """A one-way-mode position: `qty` > 0 long, < 0 short."""

    symbol: str
    qty: float
    entry_price: float
    mark_price: float = 0.0
    unrealized_pnl: float = 0.0

    @property
    def side(self) -> Side:
        return Side.BUY if self.qty > 0 else Side.SELL


class Balance(msgspec.Struct, frozen=True):
    asset: str
    wallet: float
    available: float
    unrealized_pnl: float = 0.0

    @property
    def equity(self) -> float:
        return self.wallet + self.unrealized_pnl


class AccountUpdate(msgspec.Struct, frozen=True):
    """Balance and changed positions (Binance ACCOUNT_UPDATE)."""

    balances: tuple[Balance, ...]
    positions: tuple[Position, ...]
    reason: str = "ORDER"
    ts_ms: int = 0


class Vote(msgspec.Struct, frozen=True):
    """One sensor's opinion on one symbol: vote in {-1, 0, +1}, strength in [0, 1]."""

    sensor: str
    timeframe: str
    vote: int
    strength: float
    weight: float = 1.0


class Decision(msgspec.Struct, frozen=True):
    """The player's call for one symbol on one candle close."""

    symbol: str
    side: Side
    score: float
    ts_ms: int
    reason: str = ""


# -- words the layers share: the mode, the journal's event kinds, reconcile's findings ----------------------


class TradingMode(enum.StrEnum):
    """What a session trades with, as the header's badge shows it."""

    PAPER = "PAPER"  # the simulated exchange, or a loopback sandbox: no real money
    TESTNET = "TESTNET"  # Binance's futures testnet
    LIVE = "LIVE"  # production Binance, asked for with --live and confirmed by the operator
    REPLAY = "REPLAY"  # historical data through the sim matching engine (`casino-tui replay`)


class JournalKind(enum.StrEnum):
    """The kinds of journal event. INTENT, ACK and ORDER carry a client id in `ref`; BRACKET a bracket id."""

    INTENT = "INTENT"  # an order about to be sent, durable before the send
    ACK = "ACK"  # the exchange's answer to a send
    ORDER = "ORDER"  # an order update from the user stream or a lookup
    BRACKET = "BRACKET"  # a bracket's record after each transition
    COMMAND = "COMMAND"  # an operator command (sweep, reconcile)
    PAUSE = "PAUSE"  # the operator paused or resumed entries
    BREAKER = "BREAKER"  # a circuit breaker opened or closed
    RECONCILE = "RECONCILE"  # one reconcile finding and what was done about it
    SESSION = "SESSION"  # a process started writing: its pid and its clock against the wall


class ReconcileKind(enum.StrEnum):
    """One kind of difference between local state and the exchange."""

    NAKED_POSITION = "NAKED_POSITION"  # a managed position lacks a leg on the exchange
    UNKNOWN_POSITION = "UNKNOWN_POSITION"  # a position no bracket manages
    ORPHAN_ORDER = "ORPHAN_ORDER"  # an open order no active bracket owns
    VANISHED_BRACKET = "VANISHED_BRACKET"  # a bracket whose position is gone
    QTY_MISMATCH = "QTY_MISMATCH"  # the position's size differs from the bracket's


class ReconcileAction(enum.StrEnum):
    """What reconcile does about a difference."""

    PROTECT = "PROTECT"  # place the missing legs again
    ADOPT = "ADOPT"  # take the exchange's position into a bracket (or its size into the bracket)
    CANCEL = "CANCEL"  # cancel the order
    MARK_CLOSED = "MARK_CLOSED"  # close the bracket locally, with the reason its legs tell
