"""The sensor catalog: every sensor as data (name, timeframe, indicators with parameters, rule, description).

Indicators are declared as (key, StateClass, params); the shard computes each distinct (class, params,
timeframe) once, however many sensors read it. The rule types and their contract (`RuleInput`, `evaluate`,
`finish`, `Zone`, `Cross` ...) live in `rules.py` and stay importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from casino_tui.model import TIMEFRAMES
from casino_tui.sensors import indicators as ind
from casino_tui.sensors.arrays import FloatArray, Output
from casino_tui.sensors.indicators_core import Series
from casino_tui.sensors.rules import (
    Above,
    AroonTrend,
    BandBreakout,
    BandReversion,
    Cloud,
    Cross,
    Deviation,
    DiTrend,
    Level,
    PercentB,
    PriceAndSlope,
    Ref,
    Rule,
    RuleInput,
    SlopeSign,
    Zone,
    ZoneCross,
    evaluate,
    finish,
)

__all__ = [
    "CATALOG",
    "TREND_RULE",
    "Above",
    "AroonTrend",
    "BandBreakout",
    "BandReversion",
    "Cloud",
    "Cross",
    "Deviation",
    "DiTrend",
    "IndicatorDecl",
    "Level",
    "ObvTrendState",
    "Output",
    "PercentB",
    "PriceAndSlope",
    "Ref",
    "Rule",
    "RuleInput",
    "SensorSpec",
    "SlopeSign",
    "Zone",
    "ZoneCross",
    "catalog_lines",
    "check_catalog",
    "evaluate",
    "finish",
    "sensors_of",
]

IndicatorDecl = tuple[str, type[ind.IndicatorState], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One sensor: a rule over named indicator states on one timeframe."""

    name: str
    timeframe: str
    indicators: tuple[IndicatorDecl, ...]
    rule: Rule
    description: str


class ObvTrendState(ind.IndicatorState):
    """(obv, EMA of obv): the OBV trend needs a smoothed OBV, which no single indicator state gives."""

    def __init__(self, n_symbols: int, period: int = 20) -> None:
        super().__init__(n_symbols)
        self._obv = ind.ObvState(n_symbols)
        self._ema = ind.EmaState(n_symbols, period)
        self.period = self._ema.period
        self.lookback = self._ema.lookback

    def _reset(self) -> None:
        self._obv.reset()
        self._ema.reset()

    def update(
        self, open: Series, high: Series, low: Series, close: Series, volume: Series
    ) -> tuple[FloatArray, FloatArray]:
        self.warm += 1
        obv = self._obv.update(open, high, low, close, volume)
        return obv, self._ema.update(None, None, None, obv, None)


def _i(key: str, cls: type[ind.IndicatorState], **params: Any) -> IndicatorDecl:
    return (key, cls, params)


def _ema(period: int) -> IndicatorDecl:
    return _i(f"ema{period}", ind.EmaState, period=period)


def _sma(period: int) -> IndicatorDecl:
    return _i(f"sma{period}", ind.SmaState, period=period)


# Declarations used by several sensors; equal declarations on one timeframe share one state in the shard.
RSI14 = _i("rsi", ind.RsiState, period=14)
MACD = _i("macd", ind.MacdState, fast=12, slow=26, signal=9)
BB20 = _i("bb", ind.BbandsState, period=20, nbdev=2.0)
STOCH = _i("stoch", ind.StochState, fastk=14, slowk=3, slowd=3)
STOCHRSI = _i("stochrsi", ind.StochRsiState, period=14, fastk=5, fastd=3)
ADX14 = _i("adx", ind.AdxState, period=14)
CCI20 = _i("cci", ind.CciState, period=20)
WILLR14 = _i("willr", ind.WillrState, period=14)
DONCHIAN20 = _i("dc", ind.DonchianState, period=20)
KELTNER = _i("kc", ind.KeltnerState, period=20, atr_period=10, mult=2.0)
SUPERTREND = _i("st", ind.SupertrendState, period=10, mult=3.0)
SAR = _i("sar", ind.SarState, acceleration=0.02, maximum=0.2)
ICHIMOKU = _i("ichi", ind.IchimokuState, tenkan=9, kijun=26, senkou=52)
AROON14 = _i("aroon", ind.AroonState, period=14)
MFI14 = _i("mfi", ind.MfiState, period=14)
SLOPE14 = _i("slope", ind.LinregSlopeState, period=14)

RSI_EXTREME = Zone("rsi", 30.0, 70.0, scale=20.0)
RSI_MIDLINE = Level("rsi", mid=50.0, band=5.0, scale=20.0)
MACD_CROSS = Cross(("macd", 0), ("macd", 1), scale=0.001)
MACD_HIST = SlopeSign(("macd", 2), scale=0.001, per_price=True)
STOCH_CROSS = ZoneCross(("stoch", 0), ("stoch", 1), mid=50.0)
CCI_EXTREME = Zone("cci", -100.0, 100.0, scale=100.0)
WILLR_EXTREME = Zone("willr", -80.0, -20.0, scale=20.0)
MFI_EXTREME = Zone("mfi", 20.0, 80.0, scale=20.0)
ADX_DI = DiTrend("adx", min_adx=20.0)
ST_DIRECTION = Level(("st", 1), mid=0.0, band=0.0, scale=1.0)
SAR_SIDE = Above("close", "sar", scale=0.01)
DC_BREAKOUT = BandBreakout("dc", previous=True)

_TEXT = {
    "rsi_extreme": "RSI({p}) below {lo:g} buys, above {hi:g} sells",
    "macd_hist": "MACD histogram positive and rising buys, negative and falling sells",
    "stoch_cross": "Stochastic %K crossing %D from the far side of 50",
    "adx_di": "ADX(14) at or above 20: +DI over -DI buys, -DI over +DI sells",
    "cloud": "close above the Ichimoku cloud (spans at t) buys, below sells",
    "aroon": "Aroon(14) up >= 70 with down <= 30 buys, the mirror sells",
    "dc": "close beyond the previous bar's 20-bar high or low",
    "bb_breakout": "close outside the Bollinger(20,2) bands, with the break",
    "bb_reversion": "close back inside a Bollinger band it closed outside",
    "willr": "Williams %R(14) below -80 buys, above -20 sells",
    "kc": "close outside the Keltner(20, 2 x ATR10) channel",
}


def _s(name: str, tf: str, indicators: Sequence[IndicatorDecl], rule: Rule, description: str) -> SensorSpec:
    return SensorSpec(f"{name}_{tf}", tf, tuple(indicators), rule, description)


def _build() -> tuple[SensorSpec, ...]:
    t = _TEXT
    return (
        # ---- 1m: fast oscillators, crosses and breakouts
        _s("rsi14_extreme", "1m", [RSI14], RSI_EXTREME, t["rsi_extreme"].format(p=14, lo=30, hi=70)),
        _s("rsi7_extreme", "1m", [_i("rsi", ind.RsiState, period=7)], Zone("rsi", 25.0, 75.0, scale=20.0),
           t["rsi_extreme"].format(p=7, lo=25, hi=75)),
        _s("rsi_midline", "1m", [RSI14], RSI_MIDLINE, "RSI(14) above 55 buys, below 45 sells"),
        _s("macd_cross", "1m", [MACD], MACD_CROSS, "MACD(12,26,9) line crossing its signal line"),
        _s("macd_hist", "1m", [MACD], MACD_HIST, t["macd_hist"]),
        _s("ema_cross_9_21", "1m", [_ema(9), _ema(21)], Above("ema9", "ema21", scale=0.005),
           "EMA(9) above EMA(21) buys, below sells"),
        _s("ema_cross_12_26", "1m", [_ema(12), _ema(26)], Cross("ema12", "ema26", scale=0.002),
           "EMA(12) crossing EMA(26)"),
        _s("price_vs_ema20", "1m", [_ema(20)], Above("close", "ema20", scale=0.005),
           "close above EMA(20) buys, below sells"),
        _s("sma_cross_10_30", "1m", [_sma(10), _sma(30)], Cross("sma10", "sma30", scale=0.002),
           "SMA(10) crossing SMA(30)"),
        _s("bb_breakout", "1m", [BB20], BandBreakout("bb"), t["bb_breakout"]),
        _s("bb_reversion", "1m", [BB20], BandReversion("bb"), t["bb_reversion"]),
        _s("bb_pctb", "1m", [BB20], PercentB("bb", low=0.05, high=0.95),
           "Bollinger %B below 0.05 buys, above 0.95 sells"),
        _s("stoch_cross", "1m", [STOCH], STOCH_CROSS, t["stoch_cross"]),
        _s("stoch_extreme", "1m", [STOCH], Zone(("stoch", 0), 20.0, 80.0, scale=20.0),
           "Stochastic(14,3,3) %K below 20 buys, above 80 sells"),
        _s("stochrsi_extreme", "1m", [STOCHRSI], Zone(("stochrsi", 0), 20.0, 80.0, scale=20.0),
           "StochRSI(14,5,3) %K below 20 buys, above 80 sells"),
        _s("cci_extreme", "1m", [CCI20], CCI_EXTREME, "CCI(20) below -100 buys, above +100 sells"),
        _s("willr_extreme", "1m", [WILLR14], WILLR_EXTREME, t["willr"]),
        _s("donchian_breakout", "1m", [DONCHIAN20], DC_BREAKOUT, t["dc"]),
        _s("keltner_breakout", "1m", [KELTNER], BandBreakout("kc"), t["kc"]),
        _s("supertrend_flip", "1m", [SUPERTREND], Cross(("st", 1), 0.0, scale=1.0, per_price=False),
           "Supertrend(10,3) changing direction"),
        _s("sar_flip", "1m", [SAR], Cross("close", "sar", scale=0.002), "close crossing the Parabolic SAR"),
        _s("mfi_extreme", "1m", [MFI14], MFI_EXTREME, "MFI(14) below 20 buys, above 80 sells"),
        _s("vwap_deviation", "1m", [_i("vwap", ind.VwapState, period=20), _i("atr", ind.AtrState, period=14)],
           Deviation("vwap", "atr", k=1.5), "close over 1.5 ATR(14) from the 20-bar VWAP, fading it"),
        _s("roc", "1m", [_i("roc", ind.RocState, period=10)], Level("roc", mid=0.0, band=0.05, scale=0.5),
           "ROC(10) above +0.05% buys, below -0.05% sells"),
        _s("momentum", "1m", [_i("mom", ind.MomState, period=10)],
           Level("mom", mid=0.0, band=0.0005, scale=0.005, per_price=True),
           "10-bar momentum beyond 0.05% of the price"),
        _s("cmf", "1m", [_i("cmf", ind.CmfState, period=20)], Level("cmf", mid=0.0, band=0.05, scale=0.25),
           "Chaikin money flow(20) above +0.05 buys, below -0.05 sells"),
        _s("ultosc_extreme", "1m", [_i("uo", ind.UltoscState, p1=7, p2=14, p3=28)],
           Zone("uo", 30.0, 70.0, scale=20.0), "Ultimate oscillator(7,14,28) below 30 buys, above 70 sells"),
        _s("linreg_slope", "1m", [SLOPE14],
           Level("slope", mid=0.0, band=0.00005, scale=0.001, per_price=True),
           "14-bar regression slope beyond 0.005% of the price per bar"),
        _s("wma_trend", "1m", [_i("wma", ind.WmaState, period=20)], PriceAndSlope("wma", "wma", scale=0.005),
           "close above a rising WMA(20) buys, below a falling one sells"),
        # DPO compares the close 11 bars ago with today's SMA: it turns negative when the price lifts off.
        _s("dpo_cross", "1m", [_i("dpo", ind.DpoState, period=20)], Cross(0.0, "dpo", scale=0.002),
           "detrended price oscillator(20) crossing below zero buys, above sells"),
        # ---- 5m: the same families, slower, plus trend-followers
        _s("rsi14_extreme", "5m", [RSI14], RSI_EXTREME, t["rsi_extreme"].format(p=14, lo=30, hi=70)),
        _s("rsi_midline_cross", "5m", [RSI14], Cross("rsi", 50.0, scale=20.0, per_price=False),
           "RSI(14) crossing 50"),
        _s("macd_cross", "5m", [MACD], MACD_CROSS, "MACD(12,26,9) line crossing its signal line"),
        _s("macd_hist", "5m", [MACD], MACD_HIST, t["macd_hist"]),
        _s("ema_cross_20_50", "5m", [_ema(20), _ema(50)], Above("ema20", "ema50", scale=0.005),
           "EMA(20) above EMA(50) buys, below sells"),
        _s("ema_cross_12_26", "5m", [_ema(12), _ema(26)], Above("ema12", "ema26", scale=0.005),
           "EMA(12) above EMA(26) buys, below sells"),
        _s("bb_breakout", "5m", [BB20], BandBreakout("bb"), t["bb_breakout"]),
        _s("bb_reversion", "5m", [BB20], BandReversion("bb"), t["bb_reversion"]),
        _s("stoch_cross", "5m", [STOCH], STOCH_CROSS, t["stoch_cross"]),
        _s("stochrsi_cross", "5m", [STOCHRSI], ZoneCross(("stochrsi", 0), ("stochrsi", 1), mid=50.0),
           "StochRSI %K crossing %D from the far side of 50"),
        _s("adx_di", "5m", [ADX14], ADX_DI, t["adx_di"]),
        _s("cci_extreme", "5m", [CCI20], CCI_EXTREME, "CCI(20) below -100 buys, above +100 sells"),
        _s("willr_extreme", "5m", [WILLR14], WILLR_EXTREME, t["willr"]),
        _s("keltner_breakout", "5m", [KELTNER], BandBreakout("kc"), t["kc"]),
        _s("supertrend_dir", "5m", [SUPERTREND], ST_DIRECTION, "Supertrend(10,3) direction"),
        _s("sar_side", "5m", [SAR], SAR_SIDE, "close above the Parabolic SAR buys, below sells"),
        _s("ichimoku_tk_cross", "5m", [ICHIMOKU], Cross(("ichi", 0), ("ichi", 1), scale=0.002),
           "Ichimoku tenkan(9) crossing kijun(26)"),
        _s("ichimoku_cloud", "5m", [ICHIMOKU], Cloud("ichi"), t["cloud"]),
        _s("aroon", "5m", [AROON14], AroonTrend("aroon"), t["aroon"]),
        _s("trix", "5m", [_i("trix", ind.TrixState, period=15)], SlopeSign("trix", scale=0.05),
           "TRIX(15) positive and rising buys, negative and falling sells"),
        _s("obv_trend", "5m", [_i("obv", ObvTrendState, period=20)],
           Above(("obv", 0), ("obv", 1), scale=0.05, norm="slow"), "OBV above its EMA(20) buys, below sells"),
        _s("dema_trend", "5m", [_i("dema", ind.DemaState, period=20)],
           PriceAndSlope("dema", "dema", scale=0.005),
           "close above a rising DEMA(20) buys, below a falling one sells"),
        _s("tema_trend", "5m", [_i("tema", ind.TemaState, period=20)],
           PriceAndSlope("tema", "tema", scale=0.005),
           "close above a rising TEMA(20) buys, below a falling one sells"),
        _s("mfi_extreme", "5m", [MFI14], MFI_EXTREME, "MFI(14) below 20 buys, above 80 sells"),
        _s("donchian_breakout", "5m", [DONCHIAN20], DC_BREAKOUT, t["dc"]),
        # ---- 15m: swing trend
        _s("ema_cross_20_50", "15m", [_ema(20), _ema(50)], Above("ema20", "ema50", scale=0.005),
           "EMA(20) above EMA(50) buys, below sells"),
        _s("macd_hist", "15m", [MACD], MACD_HIST, t["macd_hist"]),
        _s("adx_di", "15m", [ADX14], ADX_DI, t["adx_di"]),
        _s("supertrend_dir", "15m", [SUPERTREND], ST_DIRECTION, "Supertrend(10,3) direction"),
        _s("aroon", "15m", [AROON14], AroonTrend("aroon"), t["aroon"]),
        _s("ichimoku_cloud", "15m", [ICHIMOKU], Cloud("ichi"), t["cloud"]),
        _s("rsi_midline", "15m", [RSI14], RSI_MIDLINE, "RSI(14) above 55 buys, below 45 sells"),
        # ---- 1h: the higher-timeframe trend
        _s("ema_cross_20_50", "1h", [_ema(20), _ema(50)], Above("ema20", "ema50", scale=0.01),
           "EMA(20) above EMA(50) buys, below sells"),
        _s("price_vs_ema50", "1h", [_ema(50)], Above("close", "ema50", scale=0.01),
           "close above EMA(50) buys, below sells"),
        _s("macd_trend", "1h", [MACD], Above(("macd", 0), ("macd", 1), scale=0.001),
           "MACD line above its signal line buys, below sells"),
        _s("supertrend_dir", "1h", [SUPERTREND], ST_DIRECTION, "Supertrend(10,3) direction"),
        _s("adx_di", "1h", [ADX14], ADX_DI, t["adx_di"]),
        _s("linreg_slope", "1h", [SLOPE14], Level("slope", mid=0.0, band=0.0001, scale=0.002, per_price=True),
           "14-bar regression slope beyond 0.01% of the price per bar"),
        _s("sar_side", "1h", [SAR], SAR_SIDE, "close above the Parabolic SAR buys, below sells"),
    )  # fmt: skip


CATALOG: tuple[SensorSpec, ...] = _build()

# The per-timeframe trend (VoteBatch.trend): close above EMA(50) while EMA(20) rises is +1, the mirror -1.
TREND_RULE = SensorSpec(
    "trend", "*", (_ema(20), _ema(50)), PriceAndSlope("ema50", "ema20", scale=0.01),
    "close vs EMA(50) and the slope of EMA(20) agree",
)  # fmt: skip


def sensors_of(catalog: Sequence[SensorSpec], timeframe: str) -> tuple[SensorSpec, ...]:
    """The catalog's sensors on `timeframe`, in catalog order (the VoteBatch column order)."""
    return tuple(spec for spec in catalog if spec.timeframe == timeframe)


def check_catalog(catalog: Sequence[SensorSpec]) -> None:
    """Raise ValueError for duplicate names, unknown timeframes, or an indicator key repeated in a sensor."""
    names = [spec.name for spec in catalog]
    if len(set(names)) != len(names):
        raise ValueError(
            f"duplicate sensor names: {', '.join(sorted({n for n in names if names.count(n) > 1}))}"
        )
    for spec in catalog:
        if spec.timeframe not in TIMEFRAMES:
            raise ValueError(f"{spec.name}: unknown timeframe {spec.timeframe!r}")
        keys = [key for key, _, _ in spec.indicators]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{spec.name}: an indicator key is declared twice")


def catalog_lines(catalog: Sequence[SensorSpec] = CATALOG) -> list[str]:
    """One line per sensor: name, timeframe, one-line description (what `casino-tui sensors` prints)."""
    width = max(len(spec.name) for spec in catalog)
    return [f"{spec.name:<{width}}  {spec.timeframe:>3}  {spec.description}" for spec in catalog]
