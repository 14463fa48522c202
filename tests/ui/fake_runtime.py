"""A deterministic stand-in for Runtime that implements RuntimeControl for the console's tests.

Its commands really change its state (pause, sweep, reconcile), so pilot tests can check their effects,
and every figure is fixed or drawn from seeded generators, so snapshots never move.
"""

from __future__ import annotations

import random

from casino_tui.control import ReconcileItem, ReconcileReport, SweepResult
from casino_tui.engine.brackets.machine import Bracket
from casino_tui.engine.trades import TradeLedger
from casino_tui.lifecycle import RuntimeStatus
from casino_tui.model import BracketState, CloseReason, ReconcileAction, ReconcileKind, Side, TradingMode
from casino_tui.port import BreakerStatus
from casino_tui.snapshot import (
    BracketRow,
    BreakerState,
    ConsensusRow,
    Counters,
    HeaderView,
    LimitView,
    LogLine,
    RuntimeSnapshot,
    SensorVoteRow,
    StreamRow,
    TradeHistory,
)

CLOCK_MS = 1_714_566_896_000  # 2024-05-01 12:34:56 UTC
START_EQUITY = 10_000.0
SPARK_POINTS = 30

# symbol, last price, session change %, ticks/s, age s
MARKET = (
    ("BTCUSDT", 67_432.1, 1.84, 41.2, 0.1),
    ("ETHUSDT", 3_456.78, -0.92, 28.7, 0.2),
    ("SOLUSDT", 145.321, 3.41, 17.9, 0.4),
    ("BNBUSDT", 587.4, 0.12, 6.3, 1.3),
    ("XRPUSDT", 0.5234, -1.77, 9.8, 0.7),
    ("DOGEUSDT", 0.16234, 5.02, 12.4, 0.3),
    ("ADAUSDT", 0.4521, -0.31, 3.1, 7.2),
    ("LINKUSDT", 14.823, 0.0, 1.2, 41.0),
)

# symbol, score, longs, shorts, neutrals, htf trend, decision, decision age s
CONSENSUS = (
    ("BTCUSDT", 0.42, 27, 9, 16, 1, "LONG", 754.0),
    ("ETHUSDT", -0.61, 8, 31, 13, -1, "SHORT", 192.0),
    ("SOLUSDT", 0.08, 19, 15, 18, 1, "", None),
    ("BNBUSDT", -0.15, 14, 20, 18, 0, "", None),
    ("XRPUSDT", 0.73, 35, 4, 13, 1, "LONG", 4.0),
    ("DOGEUSDT", -0.33, 12, 24, 16, -1, "", None),
    ("ADAUSDT", 0.0, 16, 16, 20, 0, "", None),
    ("LINKUSDT", 0.21, 22, 13, 17, 0, "", None),
)
SHARDS = 4
DEGRADED_SHARD = 3

SENSORS = (
    ("rsi_extreme", "1m"),
    ("macd_cross", "5m"),
    ("ema_cross_9_21", "1m"),
    ("bollinger_breakout", "5m"),
    ("stochastic", "1m"),
    ("adx_di", "15m"),
    ("supertrend", "15m"),
    ("donchian", "5m"),
    ("vwap_deviation", "1m"),
    ("ichimoku_cloud", "1h"),
)

LOG_LINES = (
    ("INFO", "runtime", "", "Starting casino-tui 0.1.0 on sim (paper), 8 symbols"),
    ("INFO", "sensors", "", "4 shards started, 52 sensors warm from 500 candles"),
    ("DEBUG", "engine", "", "candle book ready: 1m 5m 15m 1h"),
    ("INFO", "reconcile", "", "startup reconcile clean: 0 positions, 0 orders"),
    ("INFO", "player", "BTCUSDT", "LONG decision: consensus +0.42, HTF up"),
    ("INFO", "croupier", "BTCUSDT", "bracket b-0001 PROTECTED: TP 68320.10 SL 66310.70"),
    ("INFO", "player", "ETHUSDT", "SHORT decision: consensus -0.61, HTF down"),
    ("INFO", "croupier", "ETHUSDT", "bracket b-0002 PROTECTED: TP 3411.60 SL 3516.00"),
    ("WARNING", "exchange", "", "breaker account HALF_OPEN after 2 failures (ReadTimeout)"),
    ("WARNING", "sensors", "", "shard 3 restarted, re-warming BNBUSDT LINKUSDT"),
    ("INFO", "player", "XRPUSDT", "LONG decision: consensus +0.73, HTF up"),
    ("WARNING", "croupier", "XRPUSDT", "bracket b-0003 OPEN_UNPROTECTED: waiting for SL ack"),
)

S = BracketState
OPEN_STATES = (S.OPEN_UNPROTECTED, S.PROTECTED, S.CLOSING, S.PROTECT_FAILED)


class FakeBracket:
    """A mutable bracket; the snapshot turns it into a BracketRow with the current mark."""

    def __init__(
        self,
        bracket_id: str,
        symbol: str,
        side: str,
        qty: float,
        entry: float,
        tp: float,
        sl: float,
        age_s: float,
        state: BracketState,
    ) -> None:
        self.bracket_id = bracket_id
        self.symbol = symbol
        self.side = side
        self.qty = qty
        self.entry = entry
        self.tp = tp
        self.sl = sl
        self.age_s = age_s
        self.state = state
        self.close_reason: CloseReason | None = None

    @property
    def is_protected(self) -> bool:
        return self.state is S.PROTECTED

    @property
    def is_at_risk(self) -> bool:
        """An open position without its stop: here, one with no stop-loss price yet."""
        return self.state in OPEN_STATES and not self.sl

    def upnl(self, mark: float) -> float:
        direction = 1.0 if self.side == "LONG" else -1.0
        return (mark - self.entry) * self.qty * direction


def spark_for(symbol: str, last: float) -> list[float]:
    """A seeded random walk of 1m closes that ends at `last`."""
    rng = random.Random(symbol)
    steps = [rng.gauss(0.0, 0.002) for _ in range(SPARK_POINTS - 1)]
    closes = [last]
    for step in reversed(steps):
        closes.append(closes[-1] / (1.0 + step))
    return list(reversed(closes))


class FakeRuntime:
    """Implements RuntimeControl with fixed data and real state changes; records every command it gets."""

    def __init__(self, *, mode: TradingMode = TradingMode.PAPER, with_positions: bool = True) -> None:
        self.mode = mode
        self.status = RuntimeStatus.RUNNING
        self.progress = ""  # the start-up phase the header shows instead of its figures
        self._paused = False
        self._seq = 0
        self.clock_ms = CLOCK_MS
        self.clock_label = "UTC"
        self.loop_lag_ms = 1.4
        self.realized_pnl = 18.25
        self.is_stale = False
        self.stale_reason = ""
        self.first_price = {sym: last / (1.0 + chg / 100.0) for sym, last, chg, _, _ in MARKET}
        self.last = {sym: last for sym, last, _, _, _ in MARKET}
        self.ticks_per_s = {sym: tps for sym, _, _, tps, _ in MARKET}
        self.age_s = {sym: age for sym, _, _, _, age in MARKET}
        self.spark = {sym: spark_for(sym, last) for sym, last, _, _, _ in MARKET}
        self.brackets: dict[str, FakeBracket] = {}
        self.orphan_orders: list[str] = []  # symbols with an order the engine does not know
        self.unknown_positions: list[str] = []  # symbols with a position the engine does not know
        if with_positions:
            self.brackets = {
                b.bracket_id: b
                for b in (
                    FakeBracket(
                        "b-0001", "BTCUSDT", "LONG", 0.015, 66_980.5, 68_320.1, 66_310.7, 754.0, S.PROTECTED
                    ),
                    FakeBracket(
                        "b-0002", "ETHUSDT", "SHORT", 0.42, 3_481.2, 3_411.6, 3_516.0, 192.0, S.PROTECTED
                    ),
                    FakeBracket(
                        "b-0003", "XRPUSDT", "LONG", 1_500.0, 0.5211, 0.5315, 0.0, 4.0, S.OPEN_UNPROTECTED
                    ),
                )
            }
            self.orphan_orders = ["SOLUSDT"]
            self.unknown_positions = ["DOGEUSDT"]
        self.breakers = {
            "orders": BreakerState("orders", BreakerStatus.CLOSED),
            "market-data": BreakerState("market-data", BreakerStatus.CLOSED),
            "account": BreakerState(
                "account", BreakerStatus.HALF_OPEN, 2, "ReadTimeout on GET /fapi/v2/account", 18.0
            ),
            "user-stream": BreakerState("user-stream", BreakerStatus.CLOSED),
        }
        self.limits = LimitView(used_weight_1m=312, order_count_10s=4, order_count_1m=37)
        self.logs: list[LogLine] = []
        self._log_seq = 0
        for level, component, symbol, message in LOG_LINES:
            self.add_log(level, component, message, symbol=symbol)
        self.ledger = TradeLedger()  # the real ledger: closed trades come from `close_trades`
        self.ledger.anchor(START_EQUITY)
        self.sweep_calls = 0
        self.reconcile_calls: list[bool] = []
        self.stop_requests: list[bool | None] = []
        self.live_confirmations = 0

    # -- RuntimeControl ---------------------------------------------------------------------------------

    def snapshot(self) -> RuntimeSnapshot:
        self._seq += 1
        brackets = tuple(
            BracketRow(
                bracket_id=b.bracket_id,
                symbol=b.symbol,
                side=b.side,
                qty=b.qty,
                entry=b.entry,
                mark=self.last[b.symbol],
                tp=b.tp,
                sl=b.sl,
                upnl=round(b.upnl(self.last[b.symbol]), 2),
                age_s=b.age_s,
                state=b.state,
                is_protected=b.is_protected,
                is_at_risk=b.is_at_risk,
                close_reason=b.close_reason,
            )
            for b in self.brackets.values()
        )
        upnl = sum(row.upnl for row in brackets if row.state.is_active)
        header = HeaderView(
            mode=self.mode,
            status=RuntimeStatus.PAUSED
            if self._paused and self.status is RuntimeStatus.RUNNING
            else self.status,
            equity=round(START_EQUITY + self.realized_pnl + upnl, 2),
            pnl=round(self.realized_pnl + upnl, 2),
            open_positions=self.open_position_count,
            max_positions=5,
            clock_ms=self.clock_ms,
            loop_lag_ms=self.loop_lag_ms,
            is_stale=self.is_stale,
            stale_reason=self.stale_reason,
            open_orders=self.open_orders,
            progress=self.progress,
            clock_label=self.clock_label,
        )
        streams = tuple(
            StreamRow(
                symbol=sym,
                last=self.last[sym],
                change_pct=round((self.last[sym] / self.first_price[sym] - 1.0) * 100.0, 4),
                ticks_per_s=self.ticks_per_s[sym],
                age_s=self.age_s[sym],
                spark=tuple(self.spark[sym]),
            )
            for sym, *_ in MARKET
        )
        consensus = tuple(
            ConsensusRow(
                symbol=sym,
                score=score,
                longs=longs,
                shorts=shorts,
                neutrals=neutrals,
                htf_trend=htf,
                decision=decision,
                decision_age_s=age,
                shard=index % SHARDS,
                is_degraded=index % SHARDS == DEGRADED_SHARD,
            )
            for index, (sym, score, longs, shorts, neutrals, htf, decision, age) in enumerate(CONSENSUS)
        )
        return RuntimeSnapshot(
            seq=self._seq,
            header=header,
            streams=streams,
            consensus=consensus,
            brackets=brackets,
            breakers=tuple(self.breakers.values()),
            limits=self.limits,
            logs=tuple(self.logs[-200:]),
            counters=Counters(ticks=123_456, candles_closed=4_096, decisions=3, trades=3, brackets_opened=3),
        )

    def sensor_detail(self, symbol: str) -> tuple[SensorVoteRow, ...]:
        """Seeded votes that lean the way the symbol's consensus score does."""
        rng = random.Random(f"votes:{symbol}")
        score = next((row[1] for row in CONSENSUS if row[0] == symbol), 0.0)
        leanings = (1.0 - score, 0.6, 1.0 + score)  # short, neutral, long
        return tuple(
            SensorVoteRow(
                sensor=name,
                timeframe=tf,
                vote=rng.choices((-1, 0, 1), weights=leanings)[0],
                strength=round(rng.uniform(0.1, 1.0), 2),
                weight=round(rng.uniform(0.5, 1.5), 2),
            )
            for name, tf in SENSORS
        )

    def trade_history(self) -> TradeHistory:
        return self.ledger.view()

    def pause(self) -> None:
        if not self._paused:
            self._paused = True
            self.add_log("INFO", "runtime", "paused by operator: no new entries")

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self.add_log("INFO", "runtime", "resumed by operator")

    @property
    def is_paused(self) -> bool:
        return self._paused

    @property
    def open_position_count(self) -> int:
        return sum(1 for b in self.brackets.values() if b.state in OPEN_STATES)

    @property
    def open_orders(self) -> int:
        """TP and SL for each protected bracket, the SL-less TP of an unprotected one, and orphans."""
        legs = sum(2 if b.is_protected else 1 for b in self.brackets.values() if b.state in OPEN_STATES)
        return legs + len(self.orphan_orders)

    async def sweep(self) -> SweepResult:
        self.sweep_calls += 1
        cancelled = self.open_orders
        closed = self.open_position_count + len(self.unknown_positions)
        # Like the engine, the swept brackets stay in the snapshot as CLOSED(SWEEP): the pane must drop them.
        for bracket in self.brackets.values():
            if bracket.state in OPEN_STATES:
                self.realized_pnl += bracket.upnl(self.last[bracket.symbol])
                bracket.state = S.CLOSED
                bracket.close_reason = CloseReason.SWEEP
        self.realized_pnl = round(self.realized_pnl, 2)
        self.orphan_orders.clear()
        self.unknown_positions.clear()
        self._paused = True
        message = (
            f"Sweep done: cancelled {cancelled} orders, closed {closed} positions; flat. Entries paused."
        )
        self.add_log("WARNING", "runtime", message)
        return SweepResult(
            cancelled_orders=cancelled,
            closed_positions=closed,
            remaining_positions=(),
            is_flat=True,
            message=message,
        )

    async def reconcile(self, apply: bool = False) -> ReconcileReport:
        self.reconcile_calls.append(apply)
        items: list[ReconcileItem] = []
        for bracket in self.brackets.values():
            if bracket.state is S.OPEN_UNPROTECTED:
                items.append(
                    ReconcileItem(
                        ReconcileKind.NAKED_POSITION,
                        bracket.symbol,
                        f"{bracket.bracket_id} {bracket.side} {bracket.qty:g}",
                        f"position {bracket.qty:g}, no stop",
                        ReconcileAction.PROTECT,
                    )
                )
        for symbol in self.unknown_positions:
            items.append(
                ReconcileItem(
                    ReconcileKind.UNKNOWN_POSITION,
                    symbol,
                    "no bracket",
                    "SHORT 3000 @ 0.16310",
                    ReconcileAction.ADOPT,
                )
            )
        for symbol in self.orphan_orders:
            items.append(
                ReconcileItem(
                    ReconcileKind.ORPHAN_ORDER,
                    symbol,
                    "no bracket",
                    "LIMIT BUY 2 @ 139.500",
                    ReconcileAction.CANCEL,
                )
            )
        report = ReconcileReport(
            ts_ms=self.clock_ms,
            items=tuple(items),
            positions=self.open_position_count + len(self.unknown_positions),
            open_orders=len(self.orphan_orders),
            open_conditional_orders=self.open_orders - len(self.orphan_orders),
            balance=round(START_EQUITY + self.realized_pnl, 2),
        )
        if apply:
            self._apply(items)
        return report

    def request_stop(self, sweep: bool | None = None) -> None:
        self.stop_requests.append(sweep)
        self.status = RuntimeStatus.STOPPING

    def confirm_live(self) -> None:
        self.live_confirmations += 1

    # -- test controls ----------------------------------------------------------------------------------

    def add_log(self, level: str, component: str, message: str, *, symbol: str = "") -> LogLine:
        self._log_seq += 1
        line = LogLine(
            seq=self._log_seq,
            # the startup lines are spread over the minute before the clock; later ones happen "now"
            ts_ms=self.clock_ms - max(len(LOG_LINES) - len(self.logs) - 1, 0) * 7_000,
            level=level,
            component=component,
            message=message,
            symbol=symbol,
        )
        self.logs.append(line)
        return line

    def set_price(self, symbol: str, price: float) -> None:
        self.last[symbol] = price
        self.spark[symbol][-1] = price

    def close_bracket(self, bracket_id: str) -> None:
        bracket = self.brackets.pop(bracket_id)
        self.realized_pnl = round(self.realized_pnl + bracket.upnl(self.last[bracket.symbol]), 2)

    def close_trades(self, count: int, *, seed: int = 7) -> None:
        """`count` seeded closed brackets, one every 20 minutes up to the clock: mostly TP and SL, a sweep."""
        rng = random.Random(seed)
        reasons = (CloseReason.TP, CloseReason.SL, CloseReason.TP, CloseReason.SL, CloseReason.SWEEP)
        first_seq = self.ledger.view().totals.trades + 1
        for offset in range(count):
            seq = first_seq + offset
            symbol, last, *_ = MARKET[rng.randrange(len(MARKET))]
            side = rng.choice((Side.BUY, Side.SELL))
            reason = reasons[rng.randrange(len(reasons))]
            qty = round(1000.0 / last, 4)
            move = {CloseReason.TP: 0.02, CloseReason.SL: -0.015}.get(reason, rng.uniform(-0.01, 0.01))
            entry = round(last * (1.0 - rng.uniform(-0.03, 0.03)), 6)
            exit_price = round(entry * (1.0 + move * side.sign), 6)
            closed_ms = self.clock_ms - (count - offset) * 1_200_000
            self.ledger.record(
                Bracket(
                    id=f"B{seq:06d}",
                    seq=seq,
                    symbol=symbol,
                    side=side,
                    qty=qty,
                    entry_client_id=f"ct{seq:06d}E0",
                    entry_price=entry,
                    exit_price=exit_price,
                    state=S.CLOSED,
                    close_reason=reason,
                    opened_ms=closed_ms - rng.randrange(60, 3600) * 1000,
                    closed_ms=closed_ms,
                    realized_pnl=round((exit_price - entry) * qty * side.sign, 6),
                    fees=round(2 * 1000.0 * 0.0004, 6),
                )
            )

    def set_stale(self, reason: str) -> None:
        self.is_stale = True
        self.stale_reason = reason

    def set_breaker(
        self, name: str, state: BreakerStatus, *, failures: int = 0, reason: str = "", cooldown_s: float = 0.0
    ) -> None:
        self.breakers[name] = BreakerState(name, state, failures, reason, cooldown_s)

    def _apply(self, items: list[ReconcileItem]) -> None:
        for item in items:
            if item.action is ReconcileAction.PROTECT:
                for bracket in self.brackets.values():
                    if bracket.symbol == item.symbol and bracket.state is S.OPEN_UNPROTECTED:
                        bracket.state = S.PROTECTED
                        bracket.sl = round(bracket.entry * 0.99, 4)
            elif item.action is ReconcileAction.ADOPT:
                self.unknown_positions.remove(item.symbol)
                bracket_id = f"b-{len(self.brackets) + 100:04d}"
                self.brackets[bracket_id] = FakeBracket(
                    bracket_id, item.symbol, "SHORT", 3_000.0, 0.1631, 0.1598, 0.1664, 0.0, S.PROTECTED
                )
            elif item.action is ReconcileAction.CANCEL:
                self.orphan_orders.remove(item.symbol)
            self.add_log("INFO", "reconcile", f"{item.action} {item.kind}", symbol=item.symbol)
