"""`/metrics` scraped over loopback HTTP while a Runtime trades on the seeded sim (a ManualClock drives it)."""

from __future__ import annotations

import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.model import OrderRequest, OrderType, Side
from casino_tui.runtime import Runtime, StartupError

QUICK = {"sensors": {"executor": "inline"}, "player": {"cooldown_s": 0.0}}
# The seed's names; its fifth, the order execution histogram, has samples once an order has been sent.
SEED_NAMES = (
    "casino_trades_total",
    "casino_api_errors_total",
    "casino_positions_open",
    "casino_balance_usdt",
)


def build(metrics: dict[str, object] | None = None, env: dict[str, str] | None = None) -> Runtime:
    overrides = {**QUICK, "metrics": metrics or {"enabled": True, "port": 0}}
    config = load_config(None, overrides, env=env or {})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    return Runtime(config, exchange=exchange, clock=clock, use_timers=False)


async def scrape(runtime: Runtime) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, keyed by (sample name, sorted labels)."""
    assert runtime.metrics is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(runtime.metrics.url, timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def trade_until_a_position_is_open(runtime: Runtime, limit_minutes: int = 20) -> None:
    for _ in range(limit_minutes):
        await runtime.advance(60_000, step_ms=2000)
        if runtime.open_position_count > 0:
            return
    raise AssertionError(f"the seeded sim opened no position in {limit_minutes} minutes")


async def test_the_seed_metrics_are_served_and_move_as_the_sim_trades():
    runtime = build()
    await runtime.start()
    try:
        before = await scrape(runtime)
        for name in SEED_NAMES:
            assert (name, ()) in before, name
        assert value(before, "casino_trades_total") == 0
        assert value(before, "casino_positions_open") == 0
        assert value(before, "casino_balance_usdt") == pytest.approx(runtime.config.sim.start_balance_usdt)

        await trade_until_a_position_is_open(runtime)
        after = await scrape(runtime)
        assert value(after, "casino_trades_total") > 0
        assert value(after, "casino_positions_open") == runtime.open_position_count > 0
        assert 0 < value(after, "casino_balance_usdt") < runtime.config.sim.start_balance_usdt  # fees paid
        assert value(after, "casino_api_errors_total") == 0
        # Entries, stops and take-profits were timed from send to answer.
        assert value(after, "casino_order_execution_duration_seconds_count", request="place") >= 3
        assert value(after, "casino_status", status="RUNNING") == 1
        assert sum(v for (name, _), v in after.items() if name == "casino_ticks_total") > sum(
            v for (name, _), v in before.items() if name == "casino_ticks_total"
        )
    finally:
        await runtime.shutdown()


async def test_brackets_by_state_count_the_active_brackets_and_an_unprotected_position_shows():
    runtime = build()
    await runtime.start()
    try:
        await trade_until_a_position_is_open(runtime)
        protected = runtime.open_position_count
        assert runtime.croupier is not None
        free = next(s for s in runtime.symbols if runtime.croupier.book.bracket_for(s) is None)
        # A position taken over from elsewhere is OPEN_UNPROTECTED until its legs are placed.
        runtime.croupier.book.adopt(free, Side.BUY, 0.01, runtime.stats.last_price(free) or 1.0, "test")
        samples = await scrape(runtime)
        assert value(samples, "casino_brackets", state="PROTECTED") == protected
        assert value(samples, "casino_brackets", state="OPEN_UNPROTECTED") == 1
        assert value(samples, "casino_unprotected_positions") == 1
    finally:
        await runtime.shutdown()


async def test_a_sweep_and_a_reconcile_that_found_a_difference_are_counted():
    runtime = build()
    await runtime.start()
    try:
        await trade_until_a_position_is_open(runtime)
        first = await scrape(runtime)
        reconciles = value(first, "casino_reconciles_total")  # the start-up reconcile
        assert runtime.croupier is not None
        free = next(s for s in runtime.symbols if runtime.croupier.book.bracket_for(s) is None)
        # A position opened behind the engine's back: the next reconcile finds and adopts it.
        qty = runtime.croupier.rules[free].qty_for_notional(200.0, runtime.stats.last_price(free) or 0.0)
        await runtime.exchange.place_order(OrderRequest(free, Side.BUY, OrderType.MARKET, qty, "by-hand-1"))
        await runtime.reconcile(apply=True)
        result = await runtime.sweep()
        assert result.is_flat
        samples = await scrape(runtime)
        assert value(samples, "casino_reconciles_total") == reconciles + 1
        assert value(samples, "casino_reconcile_differences_total") >= 1
        assert value(samples, "casino_sweeps_total", outcome="flat") == 1
        assert value(samples, "casino_sweeps_total", outcome="incomplete") == 0
    finally:
        await runtime.shutdown()


async def test_two_runtimes_in_one_process_serve_their_own_registries():
    first, second = build(), build()
    await first.start()
    await second.start()
    try:
        await trade_until_a_position_is_open(first)
        assert first.metrics is not None and second.metrics is not None
        assert first.metrics.port != second.metrics.port
        assert value(await scrape(first), "casino_trades_total") > 0
        assert value(await scrape(second), "casino_trades_total") == 0
    finally:
        await first.shutdown()
        await second.shutdown()


async def test_the_environment_turns_metrics_on_as_the_config_file_would():
    runtime = build(metrics={}, env={"CASINO_METRICS_ENABLED": "true", "CASINO_METRICS_PORT": "0"})
    await runtime.start()
    try:
        assert runtime.metrics is not None and runtime.metrics.url.startswith("http://127.0.0.1:")
        assert ("casino_positions_open", ()) in await scrape(runtime)
    finally:
        await runtime.shutdown()


async def test_metrics_are_off_unless_enabled():
    assert build(metrics={"enabled": False}).metrics is None


async def test_a_metrics_port_in_use_is_a_startup_error_naming_it():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runtime = build(metrics={"enabled": True, "port": port})
        in_use = f"^metrics: cannot listen on 127.0.0.1:{port}: Address already in use$"
        with pytest.raises(StartupError, match=in_use):
            await runtime.start()
        await runtime.shutdown()


async def test_the_endpoint_closes_at_shutdown():
    runtime = build()
    await runtime.start()
    assert runtime.metrics is not None
    url = runtime.metrics.url
    await runtime.shutdown()
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url, timeout=5)
