"""Builds the exchange named in the config: the sim, or the native Binance connector with keys from the
environment or a .env file (never from the config file)."""

from __future__ import annotations

import os
from pathlib import Path

from casino_tui.clock import Clock
from casino_tui.config import Config
from casino_tui.exchange.loopback import is_loopback_url
from casino_tui.port import Exchange


class ExchangeSetupError(Exception):
    """Missing keys, live without --live, and the like: one line, exit 2."""


def load_keys(env_file: Path | None = None) -> tuple[str, str]:
    """BINANCE_API_KEY / BINANCE_API_SECRET from the environment, else from `.env` in the working directory."""
    key = os.environ.get("BINANCE_API_KEY", "")
    secret = os.environ.get("BINANCE_API_SECRET", "")
    if not (key and secret):
        from dotenv import dotenv_values

        values = dotenv_values(env_file or Path.cwd() / ".env")
        key = key or (values.get("BINANCE_API_KEY") or "")
        secret = secret or (values.get("BINANCE_API_SECRET") or "")
    return key, secret


def build_exchange(config: Config, clock: Clock) -> Exchange:
    if config.exchange.name == "sim":
        from casino_tui.exchange.sim.exchange import SimExchange
        from casino_tui.exchange.sim.market import SIM_SYMBOLS

        try:
            return SimExchange(config.sim, list(config.symbols), clock, leverage=config.trading.leverage)
        except ValueError as exc:  # "unknown symbol: FOOUSDT"
            raise ExchangeSetupError(
                f"{exc} (the simulated exchange lists {', '.join(SIM_SYMBOLS)})"
            ) from None
    from casino_tui.exchange.binance.connector import BinanceExchange

    testnet = config.exchange.name == "binance-testnet"
    local = bool(config.exchange.rest_url) and is_loopback_url(config.exchange.rest_url)
    if config.exchange.name == "binance" and not config.exchange.live and not local:
        raise ExchangeSetupError("trading on production Binance needs --live (and a typed confirmation)")
    key, secret = load_keys()
    if not (key and secret):
        raise ExchangeSetupError(
            "no API key: set BINANCE_API_KEY and BINANCE_API_SECRET (environment or .env)"
        )
    return BinanceExchange(
        config.exchange,
        key,
        secret,
        clock,
        testnet=testnet,
        max_streams_per_connection=config.market.max_streams_per_connection,
    )
