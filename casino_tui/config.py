"""Configuration: msgspec Structs with the defaults, read from TOML, then environment, then CLI flags.

Every bad value becomes one `ConfigError` line naming the field (`trading.notional_usdt: ...`).
Environment overrides are `CASINO_<SECTION>_<FIELD>` (e.g. `CASINO_TRADING_MAX_POSITIONS=3`).
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(gt=0, lt=1)]

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "LINKUSDT")
EXCHANGES = ("sim", "binance-testnet", "binance")
_HOST_PORT = re.compile(r"(?:\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):(\d{1,5})")  # a Ray head's GCS address
ALL_MARKET = "ALL"  # `--symbols all`


class ConfigError(Exception):
    """One line that tells the user which field is wrong and why."""


class ExchangeConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # sim: built-in simulated exchange; binance-testnet / binance: the native connector.
    name: Literal["sim", "binance-testnet", "binance"] = "sim"
    # Override the REST and WebSocket base URLs (e.g. the loopback sandbox).
    rest_url: str = ""
    ws_url: str = ""
    # Live trading also needs --live on the command line and a typed confirmation in the console.
    live: bool = False
    recv_window_ms: Annotated[int, msgspec.Meta(ge=1000, le=60000)] = 5000


class SimConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    seed: int = 7
    # Sim clock multiplier: 30 closes a 1m candle every 2 s of wall time.
    speed: Positive = 30.0
    start_balance_usdt: Positive = 10_000.0
    taker_fee: NonNegative = 0.0004
    slippage_bps: NonNegative = 1.0
    # 1m candles of generated history for warm-up (higher timeframes are built from them).
    history_minutes: Annotated[int, msgspec.Meta(ge=60, le=20_000)] = 3000


class MarketConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # `symbols = "all"` takes every TRADING perpetual quoted in `quote_asset` whose 24 h quote volume
    # (GET /fapi/v1/ticker/24hr) is at least `min_quote_volume_24h`.
    quote_asset: str = "USDT"
    min_quote_volume_24h: NonNegative = 0.0
    # Streams per WebSocket connection (Binance allows 1024); more symbols spread over more connections.
    max_streams_per_connection: Annotated[int, msgspec.Meta(ge=2, le=1024)] = 1024


class SensorsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # "pool": one worker process per shard; "inline": compute on the event loop (tests, tiny setups);
    # "ray": one Ray actor per shard (the `ray` extra).
    executor: Literal["pool", "inline", "ray"] = "pool"
    # 0 = one per 250 symbols, at most 4 and at most one fewer than the cores.
    shards: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    # With executor = "ray": "local" starts Ray in-process; "auto" or "host:port" joins a running cluster.
    address: str = "local"


class PlayerConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # |consensus| needed to act, in [0, 1].
    threshold: Fraction = 0.22
    # Consecutive agreeing closes needed before a decision.
    debounce: Annotated[int, msgspec.Meta(ge=1, le=20)] = 2
    # Minimum simulated seconds between two decisions on one symbol.
    cooldown_s: NonNegative = 300.0
    # The 1h trend must agree with the decision.
    htf_filter: bool = True
    # Timeframe whose closes trigger decisions.
    decision_timeframe: Literal["1m", "5m", "15m"] = "1m"
    # Weight adaptation: each sensor's weight follows its hit rate over `hit_horizon` closes.
    hit_horizon: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    weight_min: Positive = 0.25
    weight_max: Positive = 3.0


class TradingConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    notional_usdt: Positive = 200.0
    leverage: Annotated[int, msgspec.Meta(ge=1, le=125)] = 5
    max_positions: Annotated[int, msgspec.Meta(ge=1, le=100)] = 4
    take_profit_pct: Fraction = 0.02
    stop_loss_pct: Fraction = 0.02


class RuntimeConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # What shutdown does with open positions: keep them (protected on the exchange) or sweep them.
    on_shutdown: Literal["keep", "sweep"] = "keep"
    # A sweep is never abandoned halfway: shutdown waits this long for it, then puts stops back on what is left.
    sweep_deadline_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    snapshot_interval_s: Positive = 5.0
    # Seconds without a trade before the STALE banner.
    stale_after_s: Positive = 10.0
    state_dir: str = ""
    # Write the market stream (trades, mark prices) to this file for `casino-tui replay` ("" = no recording).
    record: str = ""


class MetricsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9464


class UiConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    refresh_hz: Annotated[float, msgspec.Meta(ge=1, le=10)] = 4.0
    mouse: bool = False
    theme: str = "textual-dark"


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    symbols: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    exchange: ExchangeConfig = msgspec.field(default_factory=ExchangeConfig)
    sim: SimConfig = msgspec.field(default_factory=SimConfig)
    market: MarketConfig = msgspec.field(default_factory=MarketConfig)
    sensors: SensorsConfig = msgspec.field(default_factory=SensorsConfig)
    player: PlayerConfig = msgspec.field(default_factory=PlayerConfig)
    trading: TradingConfig = msgspec.field(default_factory=TradingConfig)
    runtime: RuntimeConfig = msgspec.field(default_factory=RuntimeConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    ui: UiConfig = msgspec.field(default_factory=UiConfig)

    @property
    def all_market(self) -> bool:
        """`symbols = "all"`: the symbols are chosen from the exchange at start (casino_tui.exchange.universe)."""
        return self.symbols == [ALL_MARKET]


_SECTIONS: dict[str, type[msgspec.Struct]] = {
    f.name: f.type for f in msgspec.structs.fields(Config) if f.name != "symbols"
}


def _field_path(err: msgspec.ValidationError) -> tuple[str, str]:
    text = str(err)
    if " - at `$." in text:
        msg, _, where = text.rpartition(" - at `$.")
        return where.rstrip("`"), msg
    return "", text


def _one_line(err: msgspec.ValidationError, source: str) -> ConfigError:
    where, msg = _field_path(err)
    msg = msg.replace("`", "")
    if msg.startswith("Object contains unknown field"):
        msg = "unknown field " + msg.split("field", 1)[1].strip()
    prefix = f"{source}: " if source else ""
    return ConfigError(f"{prefix}{where + ': ' if where else ''}{msg}")


def _env_value(variable: str, section: str, field: str, raw: str) -> Any:
    """One `CASINO_*` variable converted by msgspec to its field's type: the field decides, not the text."""
    types = {f.name: f.type for f in msgspec.structs.fields(_SECTIONS[section])}
    if field not in types:
        raise ConfigError(f"{variable}: [{section}] has no setting {field!r}")
    try:
        return msgspec.convert(raw, types[field], strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{variable}={raw!r}: {str(exc).replace('`', '')}") from None


def _env_overrides(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    sections = {name.upper(): name for name in _SECTIONS}
    for key, raw in env.items():
        if not key.startswith("CASINO_"):
            continue
        rest = key[len("CASINO_") :]
        if rest == "SYMBOLS":
            out.setdefault("", {})["symbols"] = [s.strip().upper() for s in raw.split(",") if s.strip()]
            continue
        for upper, section in sections.items():
            if rest.startswith(upper + "_"):
                field = rest[len(upper) + 1 :].lower()
                out.setdefault(section, {})[field] = _env_value(key, section, field, raw)
    return out


def merge(base: dict[str, Any], overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Apply section overrides (`{"trading": {"leverage": 3}}`, `{"": {"symbols": [...]}}`) to a raw dict."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for section, values in overrides.items():
        if section == "":
            merged.update(values)
        else:
            merged.setdefault(section, {})
            if not isinstance(merged[section], dict):
                raise ConfigError(f"{section}: expected a table")
            merged[section].update(values)
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory: {path}") from None
    except PermissionError:
        raise ConfigError(f"config file not readable: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None


def load_config(
    path: Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
) -> Config:
    """File, then `CASINO_*` environment, then `overrides` (the CLI flags). Raises ConfigError."""
    raw: dict[str, Any] = read_toml(path) if path is not None else {}
    raw = merge(raw, _env_overrides(dict(os.environ if env is None else env)))
    raw = merge(raw, overrides or {})
    if isinstance(raw.get("symbols"), str):  # `symbols = "all"` (or "BTCUSDT,ETHUSDT") in the file
        raw["symbols"] = [s.strip().upper() for s in raw["symbols"].split(",") if s.strip()]
    try:
        config = msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise _one_line(exc, str(path) if path else "") from None
    return validate(config)


def validate(config: Config) -> Config:
    """Cross-field checks msgspec cannot express."""
    for section in _SECTIONS:
        values = msgspec.structs.asdict(getattr(config, section))
        for field, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{section}.{field}: must be a finite number, not {value}")
    if not config.symbols:
        raise ConfigError("symbols: at least one symbol is needed")
    config.symbols = [s.strip().upper() for s in config.symbols]
    if ALL_MARKET in config.symbols and len(config.symbols) > 1:
        raise ConfigError("symbols: 'all' stands alone (it takes every perpetual the exchange lists)")
    quote = config.market.quote_asset = config.market.quote_asset.strip().upper()
    if quote != "USDT":
        raise ConfigError(
            f"market.quote_asset: only USDT-margined perpetuals are traded (balances and sizes are in "
            f"USDT), not {quote!r}"
        )
    for sym in [] if config.all_market else config.symbols:
        if not sym.isalnum() or not sym.endswith("USDT"):
            raise ConfigError(f"symbols: {sym!r} is not a USDT perpetual symbol (like BTCUSDT)")
    if len(set(config.symbols)) != len(config.symbols):
        raise ConfigError("symbols: duplicate symbol")
    if config.player.weight_min > config.player.weight_max:
        raise ConfigError("player.weight_min: must not exceed player.weight_max")
    _check_sensors(config.sensors)
    if config.exchange.live and config.exchange.name != "binance":
        raise ConfigError(
            "exchange.live (--live): live trading needs exchange.name = 'binance', "
            f"not {config.exchange.name!r}"
        )
    return config


def _check_sensors(sensors: SensorsConfig) -> None:
    address = sensors.address.strip()
    host_port = _HOST_PORT.fullmatch(address)
    if address not in ("local", "auto") and not (host_port and 0 < int(host_port[1]) < 65536):
        raise ConfigError(
            f'sensors.address: {sensors.address!r} is not "local", "auto" or host:port (like 10.0.0.5:6379)'
        )
    sensors.address = address
    if sensors.executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("sensors.executor: \"ray\" needs Ray: pip install 'casino-tui[ray]'")


DEFAULT_CONFIG_TOML = """\
# casino-tui configuration. Every key is optional; the values shown are the defaults.
# Precedence: this file < CASINO_<SECTION>_<FIELD> environment variables < command-line flags.
# API keys are never read from this file: use BINANCE_API_KEY / BINANCE_API_SECRET or a .env file.

# USDT perpetuals to trade and show, or "all": every TRADING perpetual the exchange lists that passes
# the [market] filters (on the sim: every symbol it simulates).
symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "LINKUSDT"]

[exchange]
# "sim" (built-in simulated exchange), "binance-testnet" or "binance".
name = "sim"
# Override REST / WebSocket base URLs, e.g. the loopback sandbox: "http://127.0.0.1:8765".
rest_url = ""
ws_url = ""
# Live trading also needs --live and a typed confirmation.
live = false
recv_window_ms = 5000

[sim]
seed = 7
# Sim clock multiplier: 30 closes a 1m candle every 2 s.
speed = 30.0
start_balance_usdt = 10000.0
taker_fee = 0.0004
slippage_bps = 1.0
history_minutes = 3000

[market]
# With symbols = "all": the quote asset and the minimum 24 h quote volume (GET /fapi/v1/ticker/24hr).
quote_asset = "USDT"
min_quote_volume_24h = 0.0
# Streams per WebSocket connection (Binance allows 1024, two per symbol); more spread over more connections.
max_streams_per_connection = 1024

[sensors]
# "pool" (one worker process per shard), "inline" or "ray" (one Ray actor per shard: pip install 'casino-tui[ray]').
executor = "pool"
# 0 = one per 250 symbols, at most 4 and at most one fewer than the CPUs.
shards = 0
# Ray only: "local" starts Ray in-process; "auto" or "host:port" (the head's GCS) joins a running cluster.
address = "local"

[player]
# |consensus| in [0, 1] needed to act.
threshold = 0.22
# Consecutive agreeing closes before a decision.
debounce = 2
# Minimum seconds (exchange time) between decisions on one symbol.
cooldown_s = 300.0
# Require the 1h trend to agree.
htf_filter = true
decision_timeframe = "1m"
hit_horizon = 5
weight_min = 0.25
weight_max = 3.0

[trading]
notional_usdt = 200.0
leverage = 5
max_positions = 4
take_profit_pct = 0.02
stop_loss_pct = 0.02

[runtime]
# On shutdown: "keep" open positions (their TP/SL stay on the exchange) or "sweep" them.
on_shutdown = "keep"
# A sweep is never abandoned halfway (quit, SIGTERM, --timeout): shutdown waits this many seconds for it,
# then puts the stop-loss back on every position left (the exit code says so).
sweep_deadline_s = 60.0
snapshot_interval_s = 5.0
stale_after_s = 10.0
# Where journal, snapshots, logs and reports go ("" = the platform's state directory).
state_dir = ""
# Record the market stream to this file (gzip msgpack) for `casino-tui replay` ("" = no recording).
record = ""

[metrics]
enabled = false
host = "127.0.0.1"
port = 9464

[ui]
refresh_hz = 4.0
mouse = false
theme = "textual-dark"
"""
