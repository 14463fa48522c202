"""`--symbols all`: which perpetuals it means (status, contract type, quote asset, 24 h quote volume), on
Binance and on the sim, and the configuration that asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from casino_tui.config import Config, ConfigError, MarketConfig, load_config
from casino_tui.exchange.binance.codec import ExchangeInfo, SymbolFilter, SymbolInfo
from casino_tui.exchange.binance.universe import select_perpetuals
from casino_tui.exchange.factory import ExchangeSetupError
from casino_tui.exchange.sim.market import SIM_SYMBOLS
from casino_tui.exchange.universe import resolve_symbols, sim_perpetuals

FILTERS = [
    SymbolFilter(filter_type="PRICE_FILTER", min_price="0.1", max_price="100000", tick_size="0.1"),
    SymbolFilter(filter_type="LOT_SIZE", min_qty="0.001", max_qty="1000", step_size="0.001"),
]


def listed(symbol: str, **fields: str) -> SymbolInfo:
    return SymbolInfo(symbol=symbol, filters=list(FILTERS), **fields)


INFO = ExchangeInfo(
    symbols=[
        listed("BTCUSDT"),
        listed("ETHUSDT"),
        listed("SOLUSDT"),
        listed("OLDUSDT", status="SETTLING"),
        listed("BTCUSDT_260626", contract_type="CURRENT_QUARTER"),
        listed("BTCUSDC", quote_asset="USDC"),
        SymbolInfo(symbol="NOFILTERUSDT"),
    ]
)
VOLUMES = {
    "BTCUSDT": 9e9,
    "ETHUSDT": 4e9,
    "SOLUSDT": 2e6,
    "OLDUSDT": 8e9,
    "BTCUSDT_260626": 7e9,
    "BTCUSDC": 6e9,
    "NOFILTERUSDT": 5e9,
}


def test_all_takes_trading_perpetuals_in_the_quote_asset_most_traded_first() -> None:
    assert select_perpetuals(INFO, VOLUMES, "USDT", 0.0) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_the_volume_floor_leaves_out_thinly_traded_perpetuals() -> None:
    assert select_perpetuals(INFO, VOLUMES, "USDT", 1e9) == ["BTCUSDT", "ETHUSDT"]


def test_a_symbol_missing_from_the_ticker_counts_as_no_volume() -> None:
    volumes = {"BTCUSDT": 9e9}
    assert select_perpetuals(INFO, volumes, "USDT", 1.0) == ["BTCUSDT"]
    assert select_perpetuals(INFO, volumes, "USDT", 0.0) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_equal_volumes_are_ordered_by_name() -> None:
    assert select_perpetuals(INFO, dict.fromkeys(VOLUMES, 1.0), "USDT", 0.0) == [
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
    ]


def test_on_the_sim_all_means_its_named_symbols_held_to_the_same_floor() -> None:
    assert sorted(sim_perpetuals(MarketConfig())) == sorted(SIM_SYMBOLS)
    busiest = sim_perpetuals(MarketConfig(min_quote_volume_24h=1e9))
    assert busiest[0] == "BTCUSDT" and 0 < len(busiest) < len(SIM_SYMBOLS)


def test_resolving_all_on_the_sim_gives_a_config_with_those_symbols() -> None:
    config = resolve_symbols(Config(symbols=["ALL"]))
    assert not config.all_market
    assert config.symbols == sim_perpetuals(MarketConfig())


def test_a_floor_nothing_reaches_is_one_clear_error() -> None:
    config = Config(symbols=["ALL"], market=MarketConfig(min_quote_volume_24h=1e15))
    with pytest.raises(ExchangeSetupError, match="min_quote_volume_24h"):
        resolve_symbols(config)


def test_all_is_accepted_from_the_file_as_a_string(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'symbols = "all"\n[market]\nmin_quote_volume_24h = 5e6\nmax_streams_per_connection = 200\n'
    )
    config = load_config(path, env={})
    assert config.all_market
    assert config.market.min_quote_volume_24h == 5e6 and config.market.max_streams_per_connection == 200


def test_all_is_accepted_from_the_environment() -> None:
    assert load_config(None, env={"CASINO_SYMBOLS": "all"}).all_market


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('symbols = ["all", "BTCUSDT"]\n', "symbols"),
        ("[market]\nmin_quote_volume_24h = -1\n", "market.min_quote_volume_24h"),
        ("[market]\nmax_streams_per_connection = 1\n", "market.max_streams_per_connection"),
        ("[market]\nmax_streams_per_connection = 2000\n", "market.max_streams_per_connection"),
        ('[market]\nquote_asset = "USDC"\n', "market.quote_asset"),
    ],
)
def test_bad_market_settings_are_one_line_naming_the_field(tmp_path: Path, toml: str, field: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=field) as caught:
        load_config(path, env={})
    assert "\n" not in str(caught.value)
