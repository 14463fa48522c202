"""`--symbols all`: the configured "all" turned into the exchange's symbols once, before the runtime is built.

On Binance: every TRADING USDⓈ-M perpetual in the quote asset whose 24 h quote volume (the bulk ticker)
reaches `[market] min_quote_volume_24h`. On the sim: every symbol it simulates by name (the eight majors;
the numbered synthetic ones exist for benchmarks and the sandbox's `--symbols-count`), with its nominal
24 h quote volume (trades per second × median trade notional × one day) held to the same floor.
"""

from __future__ import annotations

import asyncio

import msgspec

from casino_tui.clock import WallClock
from casino_tui.config import Config, MarketConfig
from casino_tui.exchange.factory import ExchangeSetupError, build_exchange
from casino_tui.port import ExchangeError

SECONDS_PER_DAY = 86_400


def sim_perpetuals(market: MarketConfig) -> list[str]:
    """The sim's named symbols that pass the filters, the most traded first."""
    from casino_tui.exchange.sim.market import SIM_PROFILES, SIM_SYMBOLS

    volume = {
        symbol: profile.trades_per_s * profile.median_notional * SECONDS_PER_DAY
        for symbol, profile in SIM_PROFILES.items()
    }
    chosen = [
        symbol
        for symbol, rules in SIM_SYMBOLS.items()
        if rules.quote_asset == market.quote_asset and volume[symbol] >= market.min_quote_volume_24h
    ]
    return sorted(chosen, key=lambda symbol: (-volume[symbol], symbol))


async def binance_perpetuals(config: Config) -> list[str]:
    """Ask the configured Binance (or Binance-protocol server) for its perpetuals; the client is closed after."""
    from casino_tui.exchange.binance.connector import BinanceExchange

    exchange = build_exchange(config, WallClock())
    assert isinstance(exchange, BinanceExchange)
    try:
        return await exchange.listed_perpetuals(config.market.quote_asset, config.market.min_quote_volume_24h)
    finally:
        await exchange.stop()


def resolve_symbols(config: Config) -> Config:
    """`config` with "all" replaced by the chosen symbols (unchanged otherwise); ExchangeSetupError, one line,
    when the list cannot be read or nothing passes the filters."""
    if not config.all_market:
        return config
    market = config.market
    if config.exchange.name == "sim":
        symbols = sim_perpetuals(market)
    else:
        try:
            symbols = asyncio.run(binance_perpetuals(config))
        except ExchangeError as exc:
            raise ExchangeSetupError(f"symbols = all: cannot read the list of perpetuals: {exc}") from None
    if not symbols:
        raise ExchangeSetupError(
            f"symbols = all: no TRADING {market.quote_asset} perpetual on {config.exchange.name} has a 24 h "
            f"quote volume of at least {market.min_quote_volume_24h:g} (market.min_quote_volume_24h)"
        )
    return msgspec.structs.replace(config, symbols=symbols)
