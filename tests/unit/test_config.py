"""Config: defaults, file + environment + flag precedence, and one clear line per bad field."""

from pathlib import Path

import pytest

from casino_tui.config import DEFAULT_CONFIG_TOML, Config, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_defaults_trade_eight_symbols_on_the_sim():
    config = load_config(None, env={})
    assert config.exchange.name == "sim"
    assert len(config.symbols) == 8
    assert config.trading.take_profit_pct == 0.02 and config.trading.stop_loss_pct == 0.02


def test_default_config_file_parses_to_the_defaults(tmp_path):
    assert load_config(write(tmp_path, DEFAULT_CONFIG_TOML), env={}) == load_config(None, env={})


def test_flags_override_environment_which_overrides_file(tmp_path):
    path = write(tmp_path, "[trading]\nmax_positions = 2\nleverage = 3\n")
    env = {"CASINO_TRADING_MAX_POSITIONS": "6", "CASINO_SYMBOLS": "btcusdt,ethusdt"}
    config = load_config(path, {"trading": {"leverage": 7}}, env=env)
    assert config.trading.max_positions == 6
    assert config.trading.leverage == 7
    assert config.symbols == ["BTCUSDT", "ETHUSDT"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[trading]\nnotional_usdt = -5\n", "trading.notional_usdt"),
        ("[trading]\nmax_positions = 'many'\n", "trading.max_positions"),
        ("[tradeing]\nx = 1\n", "unknown field"),
        ("[exchange]\nname = 'kraken'\n", "exchange.name"),
        ("symbols = ['BTC-PERP']\n", "symbols"),
        ("symbols = []\n", "symbols"),
        ("[trading\n", "invalid TOML"),
    ],
)
def test_bad_config_gives_one_line_naming_the_problem(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_config_struct_has_every_documented_section():
    fields = set(Config.__struct_fields__)
    assert {
        "symbols",
        "exchange",
        "sim",
        "sensors",
        "player",
        "trading",
        "runtime",
        "metrics",
        "ui",
    } <= fields


def test_environment_values_take_their_fields_type_not_the_look_of_the_text():
    env = {
        "CASINO_RUNTIME_STATE_DIR": "2026",
        "CASINO_EXCHANGE_NAME": "binance",
        "CASINO_EXCHANGE_LIVE": "TRUE",
        "CASINO_TRADING_LEVERAGE": "3",
        "CASINO_SIM_SPEED": "2.5",
        "CASINO_UI_THEME": "1,2",
    }
    config = load_config(None, env=env)
    assert config.runtime.state_dir == "2026"
    assert config.exchange.live is True
    assert config.trading.leverage == 3
    assert config.sim.speed == 2.5
    assert config.ui.theme == "1,2"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CASINO_TRADING_LEVERAGE": "three"}, "CASINO_TRADING_LEVERAGE='three': Expected int"),
        ({"CASINO_TRADING_LEVERAGE": "500"}, "CASINO_TRADING_LEVERAGE='500': Expected int <= 125"),
        ({"CASINO_EXCHANGE_LIVE": "maybe"}, "CASINO_EXCHANGE_LIVE='maybe': Expected bool"),
        ({"CASINO_TRADING_TAKEPROFIT": "1"}, "CASINO_TRADING_TAKEPROFIT: [trading] has no setting"),
    ],
)
def test_bad_environment_value_is_one_line_naming_the_variable(env, expected):
    with pytest.raises(ConfigError) as info:
        load_config(None, env=env)
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("[sim]\nspeed = inf\n", {}, "sim.speed: must be a finite number"),
        ("[trading]\nnotional_usdt = inf\n", {}, "trading.notional_usdt: must be a finite number"),
        ("", {"CASINO_PLAYER_COOLDOWN_S": "inf"}, "player.cooldown_s: must be a finite number"),
    ],
)
def test_infinite_numbers_are_refused(tmp_path, text, env, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, text), env=env)


def test_live_on_anything_but_binance_names_the_flag_and_the_exchange():
    with pytest.raises(ConfigError) as info:
        load_config(None, {"exchange": {"live": True}}, env={})
    assert "--live" in str(info.value) and "'sim'" in str(info.value)


@pytest.mark.parametrize("address", ["local", "auto", "10.0.0.5:6379", "head.example:6379", " local "])
def test_sensors_address_takes_local_auto_or_host_and_port(address):
    config = load_config(None, {"sensors": {"executor": "ray", "address": address}}, env={})
    assert config.sensors.executor == "ray" and config.sensors.address == address.strip()


@pytest.mark.parametrize("address", ["", "10.0.0.5", "ray://head:10001", "head:0", "head:99999", ":6379"])
def test_a_sensors_address_that_is_not_local_auto_or_host_and_port_is_one_line(address):
    with pytest.raises(ConfigError, match=r"^sensors\.address: .* is not \"local\", \"auto\" or host:port"):
        load_config(None, {"sensors": {"address": address}}, env={})


def test_an_unknown_sensors_executor_is_one_line_naming_the_setting():
    with pytest.raises(ConfigError) as info:
        load_config(None, {"sensors": {"executor": "dask"}}, env={})
    assert str(info.value).startswith("sensors.executor: ") and "dask" in str(info.value)
    assert "\n" not in str(info.value)
