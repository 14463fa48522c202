"""All-market mode against a sandbox serving 400 perpetuals, over real loopback sockets.

`--symbols all` is resolved from the sandbox's exchangeInfo and bulk 24 h ticker; the market streams go
to the real connector's sharded connections and on into the Engine (stream stats and candles: the part of
the runtime that market data feeds; sensors and orders are covered elsewhere and would only add cost).
Both sides hold connections to 200 streams (100 symbols), so the 400 symbols need exactly 4 connections
and the sandbox refuses any subscription over the limit, as Binance does. The sandbox's market moves only
when the test steps its ManualClock.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from connector_support import API_KEY, API_SECRET, wait_for

from casino_tui.clock import ManualClock
from casino_tui.config import Config, ExchangeConfig, MarketConfig
from casino_tui.engine.candles import CandleBook
from casino_tui.engine.engine import Engine
from casino_tui.engine.streams import StreamStats
from casino_tui.exchange.binance.connector import BinanceExchange
from casino_tui.exchange.sim.market import synthetic_symbols
from casino_tui.exchange.universe import binance_perpetuals
from casino_tui.model import TIMEFRAMES, AccountUpdate, OrderUpdate, Trade
from casino_tui.port import StreamConnection
from casino_tui.readout import degraded_symbols
from casino_tui.sandbox import SandboxServer, running_sandbox
from casino_tui.sandbox.venue import SandboxSettings

SYMBOLS = synthetic_symbols(400)
STREAM_LIMIT = 200  # per connection, on both sides: 100 symbols each
CONNECTIONS = 4
BOUNDARY_MS = 1_767_225_600_000  # a minute boundary (2026-01-01T00:00Z)
START_MS = BOUNDARY_MS - 5_000
DEADLINE_S = 60.0  # generous: 400 symbols of frames on a loaded 2-core machine


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", API_KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", API_SECRET)


def all_market_config(sandbox: SandboxServer, min_quote_volume_24h: float = 0.0) -> Config:
    return Config(
        symbols=["ALL"],
        exchange=ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url),
        market=MarketConfig(
            min_quote_volume_24h=min_quote_volume_24h, max_streams_per_connection=STREAM_LIMIT
        ),
    )


class _NoUser:
    def on_order_update(self, update: OrderUpdate) -> None: ...

    def on_account_update(self, update: AccountUpdate) -> None: ...


@dataclass
class Watch:
    """The Engine as MarketSink, noting each stream status and what the exchange's health said right then."""

    engine: Engine
    exchange: BinanceExchange
    statuses: list[tuple[str, bool, str]] = field(default_factory=list)
    health_when_down: dict[str, tuple[StreamConnection, ...]] = field(default_factory=dict)

    def on_trade(self, trade: Trade) -> None:
        self.engine.on_trade(trade)

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.engine.on_mark_price(symbol, price, ts_ms)

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        self.statuses.append((stream, connected, reason))
        if not connected:
            self.health_when_down[stream] = self.exchange.health().streams
        self.engine.on_stream_status(stream, connected, reason)


@dataclass
class Market:
    sandbox: SandboxServer
    exchange: BinanceExchange
    engine: Engine
    watch: Watch
    clock: ManualClock
    pumped: int = 0

    async def step(self) -> None:
        """One second of market: every trade crosses its socket to the engine, then the engine's timer runs."""
        self.clock.advance(1000)
        self.pumped += self.sandbox.sim.pump()
        engine = self.engine
        await wait_for(
            lambda: engine.ticks >= self.pumped, "pumped trades at the engine", deadline_s=DEADLINE_S
        )
        engine.tick_timer(self.clock.now_ms())

    async def step_until(self, condition: Callable[[], object], what: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE_S
        while not condition():
            if loop.time() > end:
                raise AssertionError(f"timed out after {DEADLINE_S:g}s of market waiting for {what}")
            await self.step()

    def ticks(self) -> dict[str, int]:
        return {symbol: self.engine.streams.get(symbol).ticks for symbol in self.engine.symbols}


def fully_subscribed(exchange: BinanceExchange) -> bool:
    assert exchange.market is not None
    return all(shard.subscribed == shard.plan.streams for shard in exchange.market.shards)


@contextlib.asynccontextmanager
async def all_market() -> AsyncIterator[Market]:
    clock = ManualClock(START_MS)
    settings = SandboxSettings(max_streams_per_connection=STREAM_LIMIT)
    async with running_sandbox(symbols=SYMBOLS, clock=clock, settings=settings) as sandbox:
        config = all_market_config(sandbox)
        symbols = await binance_perpetuals(config)
        exchange = BinanceExchange(
            config.exchange,
            API_KEY,
            API_SECRET,
            clock,
            testnet=False,
            seed=3,
            silence_s=600.0,  # the market stands still between steps: silence is not a dead feed here
            max_streams_per_connection=config.market.max_streams_per_connection,
        )
        stats = StreamStats(symbols, clock)
        engine = Engine(symbols, clock, CandleBook(symbols, TIMEFRAMES), stats)
        watch = Watch(engine, exchange)
        exchange.set_sinks(watch, _NoUser())
        try:
            await exchange.start_market(symbols)
            await wait_for(
                lambda: fully_subscribed(exchange), "every stream subscribed", deadline_s=DEADLINE_S
            )
            yield Market(sandbox, exchange, engine, watch, clock)
        finally:
            await exchange.stop()


async def test_all_means_every_listed_perpetual_at_or_above_the_volume_floor() -> None:
    async with running_sandbox(symbols=SYMBOLS, clock=ManualClock(START_MS)) as sandbox:
        async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
            rows = (await http.get("/fapi/v1/ticker/24hr")).json()
        volumes = {row["symbol"]: float(row["quoteVolume"]) for row in rows}
        floor = statistics.median(volumes.values())
        expected = sorted((s for s, v in volumes.items() if v >= floor), key=lambda s: (-volumes[s], s))

        everything = await binance_perpetuals(all_market_config(sandbox))
        chosen = await binance_perpetuals(all_market_config(sandbox, min_quote_volume_24h=floor))

    assert sorted(everything) == sorted(SYMBOLS)
    assert chosen == expected
    assert 0 < len(chosen) < len(SYMBOLS)


async def test_every_symbol_gets_candles_over_the_connections_the_stream_limit_needs() -> None:
    async with all_market() as market:
        assert market.exchange.market is not None
        shards = market.exchange.market.shards
        assert [shard.name for shard in shards] == [f"market-{i}" for i in range(1, CONNECTIONS + 1)]
        state = await market.sandbox.state()
        assert state.streams_per_connection == [STREAM_LIMIT] * CONNECTIONS
        assert sum(shard.refusals for shard in shards) == 0

        await market.step_until(lambda: market.clock.now_ms() > BOUNDARY_MS, "the minute boundary")

        closed = {symbol: market.engine.candles.recent("1m", symbol, 1) for symbol in SYMBOLS}
        assert all(candles and candles[0].open_ms == BOUNDARY_MS - 60_000 for candles in closed.values())
        assert market.engine.counters().errors == 0 and market.exchange.market.bad_frames == 0


async def test_a_dropped_connection_degrades_only_its_symbols_and_recovers_on_its_own() -> None:
    async with all_market() as market:
        assert market.exchange.market is not None
        shards = market.exchange.market.shards
        victim = shards[2]
        others = [shard for shard in shards if shard is not victim]

        assert market.sandbox.drop_connection(f"{victim.plan.symbols[0].lower()}@aggTrade") == 1
        await wait_for(lambda: victim.name in market.watch.health_when_down, "the connection's loss")
        down = market.watch.health_when_down[victim.name]
        assert degraded_symbols(down) == frozenset(victim.plan.symbols)

        await wait_for(lambda: (victim.name, True, "reconnected") in market.watch.statuses, "the reconnect")
        await wait_for(lambda: fully_subscribed(market.exchange), "its streams subscribed again")
        before = market.ticks()
        await market.step_until(
            lambda: all(ticks > before[symbol] for symbol, ticks in market.ticks().items()),
            "trades on every symbol again",
        )

        assert victim.loop.connects == 2
        assert [shard.loop.connects for shard in others] == [1] * len(others)
        assert [name for name, connected, _ in market.watch.statuses if not connected] == [victim.name]
        assert degraded_symbols(market.exchange.health().streams) == frozenset()
