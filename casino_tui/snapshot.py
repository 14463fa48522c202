"""The immutable view of the running system that the console and the headless runner read.

`Runtime.snapshot()` builds one of these on demand (2-10 Hz from the UI); it is cheap: plain tuples of
small frozen Structs, no references into live engine state.
"""

from __future__ import annotations

import math

import msgspec

from casino_tui.lifecycle import RuntimeStatus
from casino_tui.model import BracketState, CloseReason, TradingMode
from casino_tui.port import BreakerState, StreamConnection


class HeaderView(msgspec.Struct, frozen=True):
    mode: TradingMode
    status: RuntimeStatus
    equity: float
    pnl: float  # realised + unrealised this session
    open_positions: int
    max_positions: int
    clock_ms: int
    loop_lag_ms: float
    is_stale: bool = False  # market data stopped arriving
    stale_reason: str = ""
    exchange: str = "sim"
    open_orders: int = 0  # plain + conditional orders resting on the exchange (the sweep modal states it)
    clock_label: str = "UTC"  # the runtime clock's name: "UTC" on the wall clock, "SIM 30×" on the sim
    progress: str = ""  # the start-up phase ("loading history 12/48"); "" once running


class StreamRow(msgspec.Struct, frozen=True):
    symbol: str
    last: float
    change_pct: float  # since the session's first price
    ticks_per_s: float
    age_s: float  # since the last trade
    spark: tuple[float, ...] = ()  # recent 1m closes, oldest first
    is_degraded: bool = False  # the connection carrying the symbol's market data is down


class ConsensusRow(msgspec.Struct, frozen=True):
    symbol: str
    score: float  # [-1, 1]
    longs: int
    shorts: int
    neutrals: int
    htf_trend: int  # -1, 0, +1
    decision: str  # "LONG", "SHORT" or ""
    decision_age_s: float | None
    shard: int
    is_degraded: bool = False


class SensorVoteRow(msgspec.Struct, frozen=True):
    """One sensor's latest vote on one symbol, for the Consensus detail view."""

    sensor: str
    timeframe: str
    vote: int
    strength: float
    weight: float


class BracketRow(msgspec.Struct, frozen=True):
    """One bracket for the Brackets pane; the engine decides what is at risk, the console only shows it."""

    bracket_id: str
    symbol: str
    side: str
    qty: float
    entry: float
    mark: float
    tp: float
    sl: float
    upnl: float
    age_s: float
    state: BracketState
    is_protected: bool  # both legs acknowledged
    is_at_risk: bool  # a position without its stop-loss on the exchange
    close_reason: CloseReason | None = None  # why a CLOSED bracket closed; None while it is active


class LimitView(msgspec.Struct, frozen=True):
    used_weight_1m: int = 0
    weight_limit_1m: int = 2400
    order_count_10s: int = 0
    order_limit_10s: int = 300
    order_count_1m: int = 0
    order_limit_1m: int = 1200


class LogLine(msgspec.Struct, frozen=True):
    seq: int
    ts_ms: int
    level: str
    component: str
    message: str
    symbol: str = ""


class Counters(msgspec.Struct, frozen=True):
    ticks: int = 0
    candles_closed: int = 0
    decisions: int = 0
    trades: int = 0
    brackets_opened: int = 0
    brackets_closed: int = 0
    errors: int = 0
    realized_pnl: float = 0.0
    fees: float = 0.0


class RuntimeSnapshot(msgspec.Struct, frozen=True):
    seq: int
    header: HeaderView
    streams: tuple[StreamRow, ...] = ()
    consensus: tuple[ConsensusRow, ...] = ()
    brackets: tuple[BracketRow, ...] = ()
    breakers: tuple[BreakerState, ...] = ()
    limits: LimitView = LimitView()
    logs: tuple[LogLine, ...] = ()  # the newest lines (bounded); `seq` lets a reader append only new ones
    counters: Counters = Counters()
    # The exchange's WebSocket connections (market shards, then the user stream), up or down.
    connections: tuple[StreamConnection, ...] = ()


class ClosedTrade(msgspec.Struct, frozen=True):
    """One closed bracket that held a position, for the Trades screen; money in the quote currency."""

    bracket_id: str
    symbol: str
    side: str  # "LONG" or "SHORT"
    qty: float
    entry: float
    exit: float
    reason: CloseReason
    realized_pnl: float  # before fees
    fees: float
    opened_ms: int
    closed_ms: int

    @property
    def net_pnl(self) -> float:
        return self.realized_pnl - self.fees

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.closed_ms - self.opened_ms) / 1000) if self.opened_ms else 0.0


class TradeTotals(msgspec.Struct, frozen=True):
    """Figures over every closed trade the ledger has seen; a trade wins when its net PnL is above zero."""

    trades: int = 0
    wins: int = 0
    losses: int = 0
    realized_pnl: float = 0.0  # before fees
    fees: float = 0.0
    gross_profit: float = 0.0  # Σ net PnL of the winners
    gross_loss: float = 0.0  # Σ |net PnL| of the losers
    max_drawdown: float = 0.0  # deepest fall of realised equity from its peak

    @property
    def net_pnl(self) -> float:
        return self.realized_pnl - self.fees

    @property
    def win_rate(self) -> float | None:
        """Winners as a percentage of trades; None before the first trade."""
        return self.wins / self.trades * 100.0 if self.trades else None

    @property
    def profit_factor(self) -> float | None:
        """Gross profit / gross loss: inf when something was won and nothing lost, None when neither."""
        if self.gross_loss > 0:
            return self.gross_profit / self.gross_loss
        return math.inf if self.gross_profit > 0 else None


class TradeHistory(msgspec.Struct, frozen=True):
    """The closed trades as the Trades screen reads them; `version` changes whenever anything in it does."""

    version: int = 0
    totals: TradeTotals = TradeTotals()
    recent: tuple[ClosedTrade, ...] = ()  # newest first, bounded by the ledger
    equity: tuple[tuple[int, float], ...] = ()  # (ms, realised equity), oldest first, thinned when long
    start_balance: float = 0.0
