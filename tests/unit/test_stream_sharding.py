"""Spreading market streams over WebSocket connections: whole symbols per connection, within Binance's
per-connection stream limit, subscribed in batches paced under its message rate."""

from __future__ import annotations

import pytest

from casino_tui.exchange.binance.sharding import (
    MAX_INCOMING_PER_S,
    MAX_STREAMS_PER_CONNECTION,
    STREAMS_PER_SYMBOL,
    SUBSCRIBES_PER_S,
    connections_needed,
    plan_shards,
    subscribe_seconds,
    symbol_streams,
)
from casino_tui.exchange.sim.market import synthetic_symbols


def test_each_symbol_needs_its_trades_and_its_one_second_mark_price() -> None:
    assert symbol_streams("BTCUSDT") == ("btcusdt@aggTrade", "btcusdt@markPrice@1s")
    assert STREAMS_PER_SYMBOL == 2


def test_the_documented_limit_fits_four_hundred_symbols_on_one_connection() -> None:
    assert MAX_STREAMS_PER_CONNECTION == 1024
    assert connections_needed(400, 1024) == 1
    assert connections_needed(512, 1024) == 1
    assert connections_needed(513, 1024) == 2


@pytest.mark.parametrize(
    ("symbols", "limit", "expected"), [(400, 200, 4), (401, 200, 5), (1, 2, 1), (0, 200, 1)]
)
def test_connections_needed_is_the_symbols_over_the_whole_symbols_one_connection_holds(
    symbols: int, limit: int, expected: int
) -> None:
    assert connections_needed(symbols, limit) == expected


def test_an_odd_limit_never_splits_a_symbol_across_connections() -> None:
    plans = plan_shards(synthetic_symbols(10), max_streams_per_connection=5)  # two symbols (4 streams) each
    assert [len(plan.symbols) for plan in plans] == [2, 2, 2, 2, 2]
    assert all(plan.streams <= 5 for plan in plans)


def test_a_limit_below_one_symbol_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 streams per connection"):
        plan_shards(["BTCUSDT"], max_streams_per_connection=1)


def test_symbols_are_dealt_evenly_in_order_and_each_appears_once() -> None:
    symbols = synthetic_symbols(401)
    plans = plan_shards(symbols, max_streams_per_connection=200)
    assert [plan.name for plan in plans] == [f"market-{i}" for i in range(1, 6)]
    assert [len(plan.symbols) for plan in plans] == [81, 80, 80, 80, 80]
    assert [s for plan in plans for s in plan.symbols] == symbols
    assert all(plan.streams <= 200 for plan in plans)


def test_one_connection_keeps_the_plain_market_name() -> None:
    (plan,) = plan_shards(["BTCUSDT", "ETHUSDT"])
    assert plan.name == "market"
    assert plan.batches == (
        ("btcusdt@aggTrade", "btcusdt@markPrice@1s", "ethusdt@aggTrade", "ethusdt@markPrice@1s"),
    )


def test_subscribe_batches_carry_every_stream_of_the_connection_once() -> None:
    (plan,) = plan_shards(synthetic_symbols(400), streams_per_subscribe=200)
    assert [len(batch) for batch in plan.batches] == [200, 200, 200, 200]
    names = [name for batch in plan.batches for name in batch]
    assert len(set(names)) == len(names) == 800


def test_subscriptions_are_paced_at_half_the_incoming_message_limit() -> None:
    assert SUBSCRIBES_PER_S == MAX_INCOMING_PER_S / 2
    # 800 streams in batches of 200: four messages, the first at once, then one every 0.2 s.
    assert subscribe_seconds(800, 200, SUBSCRIBES_PER_S) == pytest.approx(0.6)
    assert subscribe_seconds(1, 200, SUBSCRIBES_PER_S) == 0.0
    # One stream per message at the full limit: the 1024-stream connection needs over 100 s.
    assert subscribe_seconds(1024, 1, MAX_INCOMING_PER_S) == pytest.approx(102.3)
