"""The replay report: what a strategy did over the data, in one JSON file that two equal runs write equal.

Only the data's time appears in it (never the wall clock), every number comes from the run's own events, and
the JSON is written in a fixed field order, so the same files, config and seed give the same bytes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec

from casino_tui.engine.brackets.machine import Bracket

EQUITY_POINTS = 1000  # the equity series halves its resolution rather than grow past this
BAD_ROWS_LISTED = 20


class EquitySeries:
    """Equity sampled at a fixed data-time interval, bounded: when full, every other point goes and the
    interval doubles. Drawdown is measured on every sample offered, not only on those kept."""

    def __init__(self, interval_ms: int, max_points: int = EQUITY_POINTS) -> None:
        self.interval_ms = interval_ms
        self.max_points = max_points
        self.points: list[tuple[int, float]] = []
        self.peak = float("-inf")
        self.max_drawdown = 0.0
        self.max_drawdown_pct = 0.0

    def observe(self, ts_ms: int, equity: float) -> None:
        """Account for `equity` at `ts_ms` in the drawdown; keep it if it falls on the series' grid."""
        if equity > self.peak:
            self.peak = equity
        drawdown = self.peak - equity
        if drawdown > self.max_drawdown:
            self.max_drawdown = drawdown
            self.max_drawdown_pct = drawdown / self.peak * 100.0 if self.peak > 0 else 0.0
        if self.points and ts_ms - self.points[-1][0] < self.interval_ms:
            return
        self.points.append((ts_ms, round(equity, 6)))
        if len(self.points) >= self.max_points:
            self.points = self.points[::2]
            self.interval_ms *= 2


class TradeRecord(msgspec.Struct, frozen=True, array_like=True):
    """One closed bracket that had an entry fill: [symbol, side, entry ms, exit ms, entry, exit, net PnL, reason]."""

    symbol: str
    side: str
    opened_ms: int
    closed_ms: int
    entry: float
    exit: float
    net_pnl: float
    reason: str


class Ledger:
    """Collects a replay as it runs: closed brackets, time in the market and the equity curve."""

    def __init__(self, start_ms: int, equity_interval_ms: int = 60_000) -> None:
        self.start_ms = start_ms
        self.last_ms = start_ms
        self.exposed_ms = 0
        self.position_ms = 0  # Σ open positions × time, for the average
        self.equity = EquitySeries(equity_interval_ms)
        self.trades: list[TradeRecord] = []  # bounded by the report: see TRADES_LISTED
        self.wins = self.losses = 0
        self.gross_profit = self.gross_loss = 0.0
        self.rejected = 0
        self._brackets_seen = 0

    def on_step(self, now_ms: int, open_positions: int) -> None:
        """Time since the previous step counts as exposed if positions were open."""
        span = now_ms - self.last_ms
        if span > 0:
            if open_positions:
                self.exposed_ms += span
                self.position_ms += span * open_positions
            self.last_ms = now_ms

    def on_closed(self, closed_total: int, recent: tuple[Bracket, ...]) -> None:
        """Take the brackets closed since the last call (the newest of `recent`, the croupier's closed list)."""
        new = closed_total - self._brackets_seen
        if new <= 0:
            return
        self._brackets_seen = closed_total
        for bracket in recent[-new:]:
            if not bracket.has_entry_fill:
                self.rejected += 1
                continue
            net = bracket.realized_pnl - bracket.fees
            if net > 0:
                self.wins += 1
                self.gross_profit += net
            else:
                self.losses += 1
                self.gross_loss -= net
            if len(self.trades) < TRADES_LISTED:
                self.trades.append(
                    TradeRecord(
                        bracket.symbol,
                        bracket.side.value,
                        bracket.opened_ms,
                        bracket.closed_ms,
                        bracket.entry_price,
                        bracket.exit_price,
                        round(net, 8),
                        bracket.close_reason.value,
                    )
                )


TRADES_LISTED = 10_000


class SensorStats(msgspec.Struct, frozen=True):
    timeframe: str
    available: bool
    hit_rate: float
    samples: int
    weight: float


class BadRowInfo(msgspec.Struct, frozen=True):
    file: str
    line: int
    reason: str


class ReplayReport(msgspec.Struct, frozen=True):
    """Everything a replay produced. Times are the data's (UTC ISO); money is USDT."""

    files: tuple[str, ...]
    symbols: tuple[str, ...]
    intervals: dict[str, str]
    seed: int
    data_from: str
    data_to: str
    trading_from: str
    replayed_to: str
    complete: bool  # False when the replay stopped before the data ended
    stopped_by: str  # "end of data", "operator" or "data error: ..."
    warmup_bars: int
    ticks: int
    warmup_ticks: int
    candles_closed: int
    decisions: int
    trades: int
    wins: int
    losses: int
    win_rate: float
    realized_pnl: float
    fees: float
    net_pnl: float
    profit_factor: float | None  # None when nothing was lost
    max_drawdown: float
    max_drawdown_pct: float
    exposure_pct: float  # share of the replayed time with at least one position open
    avg_open_positions: float
    start_balance: float
    end_balance: float
    end_equity: float
    open_positions: int
    unrealized_pnl: float
    rejected_entries: int
    errors: int
    bars_reaching_both_legs: int  # klines whose range held a TP and an SL: the SL filled (pessimistic)
    unavailable_timeframes: tuple[str, ...]
    sensors: dict[str, SensorStats]
    bad_row_count: int
    bad_rows: tuple[BadRowInfo, ...]
    settings: dict[str, dict[str, object]]
    equity_interval_ms: int
    equity: tuple[tuple[int, float], ...]
    trade_list: tuple[TradeRecord, ...]


def utc_iso(ms: int) -> str:
    """Milliseconds since the epoch as `2026-01-01T00:00:00.000Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def summary_lines(report: ReplayReport) -> list[str]:
    """The report in a few lines for a person (the console's notification, the headless log)."""
    pf = "∞" if report.profit_factor is None else f"{report.profit_factor:.2f}"
    return [
        f"{'complete' if report.complete else f'stopped early ({report.stopped_by})'}: "
        f"{report.data_from} → {report.replayed_to}, "
        f"{report.ticks:,} ticks",
        f"trades {report.trades} (win rate {report.win_rate:.1f}%), net PnL {report.net_pnl:+.2f} USDT "
        f"after {report.fees:.2f} fees, profit factor {pf}",
        f"max drawdown {report.max_drawdown:.2f} USDT ({report.max_drawdown_pct:.2f}%), "
        f"exposure {report.exposure_pct:.1f}%, end equity {report.end_equity:.2f}",
    ]


def write_report(directory: Path, report: ReplayReport) -> Path:
    """Write atomically as `replay-<data from>-<data to>-<pid>.json` (the name, not the content, is per run)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = "-".join(
        t[:16].replace("-", "").replace(":", "") + "Z" for t in (report.data_from, report.replayed_to)
    )
    path = directory / f"replay-{stamp}-{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=1) + b"\n")
    os.replace(tmp, path)
    return path
