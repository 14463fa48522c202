"""Prometheus metrics read from the runtime at scrape time, in a registry of the runtime's own.

Nothing here runs per tick: `RuntimeCollector` reads the snapshot, the stream counters, the croupier and the
sensor shards only when Prometheus scrapes. The one exception is the order execution histogram, observed
by the executor as each order or cancel gets its answer (a rare event). The names are listed in `FAMILIES`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from casino_tui.engine.croupier import Croupier
from casino_tui.engine.executor import OrderExecutor
from casino_tui.engine.streams import StreamStats
from casino_tui.lifecycle import RuntimeStatus
from casino_tui.model import BracketState
from casino_tui.port import BreakerStatus, Exchange
from casino_tui.sensors.manager import SensorManager
from casino_tui.snapshot import RuntimeSnapshot

log = logging.getLogger("casino.metrics")

# Each family: (name, help, type, label names). Counter names carry no `_total`; the exposition adds it.
FAMILIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "casino_info",
        "Mode, exchange and clock of this runtime (always 1)",
        "gauge",
        ("mode", "exchange", "clock"),
    ),
    ("casino_status", "1 for the runtime's current status, 0 for the others", "gauge", ("status",)),
    ("casino_trades", "Fills of casino orders", "counter", ()),
    (
        "casino_api_errors",
        "Exchange requests that failed, as the exchange adapter counts them",
        "counter",
        (),
    ),
    (
        "casino_errors",
        "Every error the console's header counts (API, engine, journal, logged errors)",
        "counter",
        (),
    ),
    ("casino_positions_open", "Open positions", "gauge", ()),
    ("casino_balance_usdt", "Wallet balance in USDT (realised PnL and fees included)", "gauge", ()),
    ("casino_equity_usdt", "Wallet balance plus unrealised PnL, in USDT", "gauge", ()),
    ("casino_pnl_usdt", "Session PnL (realised and unrealised) in USDT", "gauge", ()),
    ("casino_realized_pnl_usdt", "Realised PnL of this session in USDT", "gauge", ()),
    ("casino_fees_usdt", "Fees paid this session in USDT", "counter", ()),
    ("casino_decisions", "Trading decisions by the player", "counter", ()),
    ("casino_candles_closed", "Candles closed by the engine", "counter", ()),
    ("casino_loop_lag_seconds", "Event-loop lag at the runtime timer's last step", "gauge", ()),
    ("casino_ticks", "Trades received per symbol", "counter", ("symbol",)),
    (
        "casino_stream_age_seconds",
        "Seconds (wall) since the symbol's last trade arrived",
        "gauge",
        ("symbol",),
    ),
    ("casino_market_data_stale", "1 while the STALE banner is up (no trades on any symbol)", "gauge", ()),
    (
        "casino_stream_connections",
        "The exchange's WebSocket connections (market shards and the user stream) by state",
        "gauge",
        ("state",),
    ),
    (
        "casino_stream_connection_up",
        "1 while the WebSocket connection is up; a market connection carries `casino_stream_connection_symbols`",
        "gauge",
        ("connection",),
    ),
    (
        "casino_stream_connection_symbols",
        "Symbols whose market data the connection carries",
        "gauge",
        ("connection",),
    ),
    (
        "casino_breaker_state",
        "Circuit breaker per group: 0 closed, 1 half-open, 2 open",
        "gauge",
        ("breaker",),
    ),
    ("casino_breaker_failures", "Consecutive failures the breaker has counted", "gauge", ("breaker",)),
    ("casino_used_weight_1m", "Request weight used in the current minute", "gauge", ()),
    ("casino_weight_limit_1m", "Request weight allowed per minute", "gauge", ()),
    ("casino_weight_headroom", "Request weight left this minute", "gauge", ()),
    ("casino_order_count", "Orders sent in the window", "gauge", ("window",)),
    ("casino_order_limit", "Orders allowed in the window", "gauge", ("window",)),
    ("casino_order_headroom", "Orders left in the window", "gauge", ("window",)),
    (
        "casino_shard_up",
        "1 while the sensor shard's worker runs, 0 while it is down or re-warming",
        "gauge",
        ("shard",),
    ),
    ("casino_shard_restarts", "Restarts of the sensor shard's worker", "counter", ("shard",)),
    ("casino_shard_latency_seconds", "The shard's latest batch latency", "gauge", ("shard",)),
    ("casino_brackets", "Active brackets by state", "gauge", ("state",)),
    ("casino_brackets_opened", "Brackets opened", "counter", ()),
    ("casino_brackets_closed", "Brackets closed", "counter", ()),
    (
        "casino_unprotected_positions",
        "Filled positions whose stop-loss the exchange has not acknowledged",
        "gauge",
        (),
    ),
    (
        "casino_sweeps",
        "Emergency sweeps by outcome (flat: the exchange confirmed flat)",
        "counter",
        ("outcome",),
    ),
    ("casino_reconciles", "Applied reconciles (start-up, after a gap, on command)", "counter", ()),
    ("casino_reconcile_differences", "Differences applied reconciles found and handled", "counter", ()),
    ("casino_orders_sent", "Orders the executor sent and had answered", "counter", ()),
    ("casino_order_rejections", "Orders the exchange rejected", "counter", ()),
    (
        "casino_order_unknown_outcomes",
        "Requests whose outcome was unknown and had to be looked up",
        "counter",
        (),
    ),
)
# The histogram observed by the executor (not in FAMILIES: it is a live prometheus-client metric).
ORDER_DURATION = "casino_order_execution_duration_seconds"
ORDER_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

STATUSES = tuple(RuntimeStatus)
_BREAKER_VALUE = {BreakerStatus.CLOSED: 0, BreakerStatus.HALF_OPEN: 1, BreakerStatus.OPEN: 2}
_ACTIVE_STATES = tuple(state for state in BracketState if state.is_active)


class Observed(Protocol):
    """What the collector reads from the runtime, and only when scraped."""

    @property
    def exchange(self) -> Exchange: ...

    @property
    def stats(self) -> StreamStats: ...

    @property
    def croupier(self) -> Croupier | None: ...

    @property
    def sensors(self) -> SensorManager | None: ...

    def snapshot(self) -> RuntimeSnapshot: ...


class _Values:
    """The families of one scrape, filled by name (the name decides help, type and labels)."""

    _spec = {name: (doc, kind, labels) for name, doc, kind, labels in FAMILIES}

    def __init__(self) -> None:
        self.families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for name, (doc, kind, labels) in self._spec.items():
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            self.families[name] = family(name, doc, labels=labels)

    def set(self, name: str, value: float, *labels: str) -> None:
        self.families[name].add_metric(list(labels), value)

    def each(self, name: str, values: Iterable[tuple[str, float]]) -> None:
        for label, value in values:
            self.set(name, value, label)


class RuntimeCollector(Collector):
    """Every `casino_*` family but the order histogram, worked out from the runtime when scraped."""

    def __init__(self, source: Observed) -> None:
        self._source = source
        self._failed = False

    def describe(self) -> Iterable[Metric]:
        return _Values().families.values()

    def collect(self) -> Iterator[Metric]:
        try:
            values = self._read()
        except Exception:
            # A scrape must not take the runtime down; say it once, not at every scrape.
            if not self._failed:
                log.exception("metrics collection failed")
            self._failed = True
            return
        self._failed = False
        yield from values.families.values()

    def _read(self) -> _Values:
        source = self._source
        snap = source.snapshot()
        h, c = snap.header, snap.counters
        v = _Values()
        v.set("casino_info", 1, h.mode, h.exchange, h.clock_label)
        v.each("casino_status", ((status, float(status == h.status)) for status in STATUSES))
        v.set("casino_trades", c.trades)
        v.set("casino_api_errors", source.exchange.health().errors)
        v.set("casino_errors", c.errors)
        v.set("casino_positions_open", h.open_positions)
        croupier = source.croupier
        unrealized = croupier.unrealized_pnl if croupier is not None else 0.0
        v.set("casino_balance_usdt", h.equity - unrealized)
        v.set("casino_equity_usdt", h.equity)
        v.set("casino_pnl_usdt", h.pnl)
        v.set("casino_realized_pnl_usdt", c.realized_pnl)
        v.set("casino_fees_usdt", c.fees)
        v.set("casino_decisions", c.decisions)
        v.set("casino_candles_closed", c.candles_closed)
        v.set("casino_loop_lag_seconds", h.loop_lag_ms / 1000)
        v.each("casino_ticks", ((s, source.stats.get(s).ticks) for s in source.stats.symbols))
        v.each("casino_stream_age_seconds", ((row.symbol, row.age_s) for row in snap.streams))
        v.set("casino_market_data_stale", float(h.is_stale))
        up = sum(conn.connected for conn in snap.connections)
        v.each("casino_stream_connections", (("up", up), ("down", len(snap.connections) - up)))
        for conn in snap.connections:
            v.set("casino_stream_connection_up", float(conn.connected), conn.name)
            v.set("casino_stream_connection_symbols", len(conn.symbols), conn.name)
        for breaker in snap.breakers:
            v.set("casino_breaker_state", _BREAKER_VALUE.get(breaker.state, 2), breaker.name)
            v.set("casino_breaker_failures", breaker.failures, breaker.name)
        limits = snap.limits
        v.set("casino_used_weight_1m", limits.used_weight_1m)
        v.set("casino_weight_limit_1m", limits.weight_limit_1m)
        v.set("casino_weight_headroom", limits.weight_limit_1m - limits.used_weight_1m)
        for window, count, limit in (
            ("10s", limits.order_count_10s, limits.order_limit_10s),
            ("1m", limits.order_count_1m, limits.order_limit_1m),
        ):
            v.set("casino_order_count", count, window)
            v.set("casino_order_limit", limit, window)
            v.set("casino_order_headroom", limit - count, window)
        if source.sensors is not None:
            for shard in source.sensors.health():
                label = str(shard.shard)
                v.set("casino_shard_up", float(shard.is_alive), label)
                v.set("casino_shard_restarts", shard.restarts, label)
                v.set("casino_shard_latency_seconds", shard.last_latency_ms / 1000, label)
        v.set("casino_brackets_opened", c.brackets_opened)
        v.set("casino_brackets_closed", c.brackets_closed)
        active = croupier.book.active if croupier is not None else ()
        v.each("casino_brackets", ((s.value, sum(b.state is s for b in active)) for s in _ACTIVE_STATES))
        v.set("casino_unprotected_positions", sum(b.is_at_risk for b in active))
        if croupier is not None:
            v.each(
                "casino_sweeps", (("flat", croupier.sweeps_flat), ("incomplete", croupier.sweeps_incomplete))
            )
            v.set("casino_reconciles", croupier.reconciles)
            v.set("casino_reconcile_differences", croupier.reconcile_differences)
            executor = croupier.executor
            v.set("casino_orders_sent", executor.sent)
            v.set("casino_order_rejections", executor.rejected)
            v.set("casino_order_unknown_outcomes", executor.unknown_outcomes)
        return v


class Metrics:
    """The runtime's registry: the collector, the order histogram and the process's own CPU and memory."""

    def __init__(self, source: Observed) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(RuntimeCollector(source))
        ProcessCollector(registry=self.registry)
        self.order_duration = Histogram(
            ORDER_DURATION,
            "From an order or cancel being sent to the exchange's answer (retries and lookups included)",
            ["request"],
            buckets=ORDER_DURATION_BUCKETS,
            registry=self.registry,
        )

    def watch(self, executor: OrderExecutor) -> None:
        """Observe the executor's request durations from now on (one call per order or cancel)."""
        executor.on_duration = self._observe

    def _observe(self, request: str, seconds: float) -> None:
        self.order_duration.labels(request).observe(seconds)
