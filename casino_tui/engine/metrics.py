"""Prometheus metrics (prometheus-client) on 127.0.0.1 by default, fed from the runtime's snapshot.

Updating from the snapshot once per timer period keeps the hot path free of metric calls; only order
execution durations are observed where they happen (rare events).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from casino_tui.port import BreakerStatus
from casino_tui.snapshot import RuntimeSnapshot

_BREAKER_VALUE = {BreakerStatus.CLOSED: 0, BreakerStatus.HALF_OPEN: 1, BreakerStatus.OPEN: 2}


class Metrics:
    """One registry per runtime (no globals), so tests can build several."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.trades = Counter("casino_trades", "Fills of casino orders", registry=r)
        self.api_errors = Counter("casino_api_errors", "Exchange API errors", registry=r)
        self.positions_open = Gauge("casino_positions_open", "Open positions", registry=r)
        self.balance = Gauge("casino_balance_usdt", "Equity in USDT", registry=r)
        self.order_duration = Histogram(
            "casino_order_execution_duration_seconds",
            "From order send to exchange acknowledgement",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.ticks_per_s = Gauge("casino_ticks_per_second", "Trades received per second", ["symbol"], registry=r)
        self.loop_lag = Gauge("casino_loop_lag_seconds", "Event-loop lag", registry=r)
        self.breaker = Gauge("casino_breaker_state", "0 closed, 1 half-open, 2 open", ["breaker"], registry=r)
        self.used_weight = Gauge("casino_used_weight_1m", "Binance request weight used this minute", registry=r)
        self._last_trades = 0
        self._last_errors = 0

    def update(self, snap: RuntimeSnapshot) -> None:
        c = snap.counters
        if c.trades > self._last_trades:
            self.trades.inc(c.trades - self._last_trades)
            self._last_trades = c.trades
        if c.errors > self._last_errors:
            self.api_errors.inc(c.errors - self._last_errors)
            self._last_errors = c.errors
        self.positions_open.set(snap.header.open_positions)
        self.balance.set(snap.header.equity)
        self.loop_lag.set(snap.header.loop_lag_ms / 1000)
        for row in snap.streams:
            self.ticks_per_s.labels(row.symbol).set(row.ticks_per_s)
        for breaker in snap.breakers:
            self.breaker.labels(breaker.name).set(_BREAKER_VALUE[breaker.state])
        self.used_weight.set(snap.limits.used_weight_1m)

    def serve(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)
