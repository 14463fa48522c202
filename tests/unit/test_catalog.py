"""The sensor catalog: its shape, the rule contract, and every sensor's vote on a series built for it."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from casino_tui.model import TIMEFRAMES
from casino_tui.sensors import catalog as cat
from casino_tui.sensors.catalog import (
    CATALOG,
    TREND_RULE,
    RuleInput,
    SensorSpec,
    catalog_lines,
    check_catalog,
)
from casino_tui.sensors.shard import SensorShard

# ---------------------------------------------------------------------------------------------- scenarios


def bars(closes: np.ndarray, wick: float = 0.1, volume: float = 10.0) -> np.ndarray:
    """(T, 5) candles from closes: open at the previous close, a small wick each side, constant volume."""
    c = np.asarray(closes, dtype=float)
    o = np.concatenate([c[:1], c[:-1]])
    return np.stack([o, np.maximum(o, c) + wick, np.minimum(o, c) - wick, c, np.full_like(c, volume)], axis=1)


_T = np.arange(200.0)


def _wiggle(amplitude: float, freq: float, n: int = 200) -> np.ndarray:
    return amplitude * np.sin(freq * _T[:n])


_CRASH = np.concatenate(
    [
        100 + 0.05 * _T[:120] + _wiggle(0.15, 1.3, 120),  # a calm climb
        106 - 0.6 * np.arange(1, 26) + _wiggle(0.1, 1.7, 25),  # a steady fall
        91 - 2.0 * np.arange(1, 6),  # that accelerates at the end
    ]
)

# Closes for the "+1" symbol; the "-1" symbol gets the mirror image 200 - closes.
SCENARIOS: dict[str, np.ndarray] = {
    "crash": _CRASH,
    "rebound": np.concatenate([_CRASH, [_CRASH[-1] + 3.0]]),
    "uptrend": 100 + 0.25 * _T + _wiggle(0.15, 0.9),
    "accelerating": 100 * np.exp(1e-5 * _T**2),
    "v_turn": np.concatenate([130 - 0.002 * _T[:150] ** 2, 130 - 0.002 * 149**2 + 0.4 * np.arange(1, 51)]),
    "breakout": np.concatenate([100 + _wiggle(0.3, 0.8, 100), [105.0]]),
    "reversion": np.concatenate([100 + _wiggle(0.3, 0.8, 100), [96.0, 99.8]]),
}
TURN = 150  # where v_turn turns; crossing sensors are judged from here on

# Rule type → (scenario, how to judge). "last": the last close votes +1 (mirror -1). "events": after the
# turn the sensor fires, only +1 (mirror only -1), and as an event: on a few closes, not on every one.
FAMILIES: dict[type, tuple[str, str]] = {
    cat.Zone: ("crash", "last"),  # oversold after a sharp fall → contrarian +1
    cat.PercentB: ("crash", "last"),
    cat.Deviation: ("crash", "last"),  # far below VWAP in ATRs → +1
    cat.ZoneCross: ("rebound", "last"),  # %K crosses %D upward from the oversold side
    cat.Level: ("uptrend", "last"),
    cat.Above: ("uptrend", "last"),
    cat.DiTrend: ("uptrend", "last"),
    cat.AroonTrend: ("uptrend", "last"),
    cat.Cloud: ("uptrend", "last"),
    cat.PriceAndSlope: ("accelerating", "last"),  # zero-lag averages need curvature to trail the close
    cat.SlopeSign: ("accelerating", "last"),  # histogram / TRIX positive and still rising
    cat.BandBreakout: ("breakout", "last"),
    cat.BandReversion: ("reversion", "last"),
    cat.Cross: ("v_turn", "events"),
}


def _run(closes: np.ndarray) -> dict[str, tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]]:
    """Feed the scenario (symbol 0) and its mirror (symbol 1) to every timeframe of one shard; per timeframe
    the sensor names and the (T, 2, k) votes, (T, 2, k) strengths and (T, 2) trend of every close."""
    up, down = bars(closes), bars(200.0 - closes)
    shard = SensorShard(["UPUSDT", "DOWNUSDT"])
    out = {}
    for tf in TIMEFRAMES:
        votes, strengths, trends = [], [], []
        for t in range(len(up)):
            v, s, trend = shard.on_close(tf, t, np.stack([up[t], down[t]], axis=1), np.ones(2, dtype=bool))
            votes.append(v)
            strengths.append(s)
            trends.append(trend)
        out[tf] = (shard.sensor_names(tf), np.array(votes), np.array(strengths), np.array(trends))
    return out


@pytest.fixture(scope="module")
def scenario_votes():
    return {name: _run(closes) for name, closes in SCENARIOS.items()}


# ---------------------------------------------------------------------------------------------- tests


def test_catalog_has_at_least_50_unique_sensors_across_3_timeframes():
    names = [spec.name for spec in CATALOG]
    assert len(names) >= 50
    assert len(set(names)) == len(names)
    assert len({spec.timeframe for spec in CATALOG}) >= 3
    check_catalog(CATALOG)


def test_most_sensors_run_on_1m_and_5m_and_several_trend_sensors_on_1h():
    per_tf = {tf: sum(spec.timeframe == tf for spec in CATALOG) for tf in TIMEFRAMES}
    assert per_tf["1m"] + per_tf["5m"] > len(CATALOG) / 2
    assert per_tf["1h"] >= 5


def test_catalog_lines_give_name_timeframe_and_description_per_sensor():
    lines = catalog_lines()
    assert len(lines) == len(CATALOG)
    for line, spec in zip(lines, CATALOG, strict=True):
        assert line.split()[:2] == [spec.name, spec.timeframe]
        assert line.endswith(spec.description)


def test_check_catalog_rejects_duplicate_names_and_unknown_timeframes():
    with pytest.raises(ValueError, match="duplicate"):
        check_catalog([CATALOG[0], CATALOG[0]])
    with pytest.raises(ValueError, match="timeframe"):
        check_catalog([SensorSpec("x", "2m", CATALOG[0].indicators, CATALOG[0].rule, "")])


def test_catalog_pickles_for_the_worker_processes():
    assert [spec.name for spec in pickle.loads(pickle.dumps(CATALOG))] == [spec.name for spec in CATALOG]


def test_every_rule_type_in_the_catalog_has_a_scenario():
    assert {type(spec.rule) for spec in CATALOG} <= set(FAMILIES)


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_sensor_votes_as_its_scenario_says(spec: SensorSpec, scenario_votes):
    scenario, judge = FAMILIES[type(spec.rule)]
    names, votes, strengths, _ = scenario_votes[scenario][spec.timeframe]
    j = names.index(spec.name)
    up, down = votes[:, 0, j], votes[:, 1, j]
    if judge == "last":
        assert (up[-1], down[-1]) == (1, -1), f"{spec.name} on {scenario}: votes {up[-1]}, mirror {down[-1]}"
        assert 0.5 <= strengths[-1, 0, j] <= 1.0 and 0.5 <= strengths[-1, 1, j] <= 1.0
    else:
        fired_up, fired_down = set(up[TURN:][up[TURN:] != 0]), set(down[TURN:][down[TURN:] != 0])
        assert fired_up == {1}, f"{spec.name} after the upturn voted {fired_up}"
        assert fired_down == {-1}, f"{spec.name} after the downturn voted {fired_down}"
        fired = np.count_nonzero(up[TURN:]), np.count_nonzero(down[TURN:])
        assert max(fired) <= 3 and up[-1] == down[-1] == 0, f"{spec.name} fired on {fired} closes"


def test_sensors_vote_nothing_before_their_indicators_are_warm(scenario_votes):
    for tf in TIMEFRAMES:
        _, votes, strengths, trend = scenario_votes["uptrend"][tf]
        assert not votes[0].any() and not strengths[0].any() and not trend[0].any()


def test_trend_rule_follows_the_trend_and_its_mirror(scenario_votes):
    for tf in TIMEFRAMES:
        trend = scenario_votes["uptrend"][tf][3]
        assert tuple(trend[-1]) == (1, -1)


def test_nan_input_gives_vote_0_for_that_symbol_only():
    rule = cat.Zone("rsi", 30.0, 70.0, scale=20.0)
    close = np.array([100.0, 100.0, 100.0])
    x = RuleInput.of(close, close, {"rsi": np.array([10.0, np.nan, 90.0])}, {"rsi": np.full(3, 50.0)})
    votes, strengths = cat.evaluate(rule, x)
    assert votes.tolist() == [1, 0, -1]
    assert strengths[1] == 0.0 and 0.5 < strengths[0] <= 1.0


def test_nan_previous_value_silences_a_cross():
    rule = cat.Cross("fast", "slow", scale=0.01)
    close = np.array([100.0, 100.0])
    now = {"fast": np.array([101.0, 101.0]), "slow": np.array([100.0, 100.0])}
    before = {"fast": np.array([99.0, np.nan]), "slow": np.array([100.0, 100.0])}
    votes, _ = cat.evaluate(rule, RuleInput.of(close, close, now, before))
    assert votes.tolist() == [1, 0]


def test_a_rule_reading_a_multi_output_indicator_by_its_bare_key_fails_naming_the_key():
    rule = cat.Zone("macd", -1.0, 1.0, scale=1.0)
    close = np.array([100.0])
    macd = (np.array([0.5]), np.array([0.2]), np.array([0.3]))
    with pytest.raises(TypeError, match=r"'macd' has 3 outputs: read one as \('macd', index\)"):
        cat.evaluate(rule, RuleInput.of(close, close, {"macd": macd}, {"macd": macd}))


def test_a_rule_indexing_a_single_output_indicator_fails_naming_the_key():
    rule = cat.Zone(("rsi", 0), 30.0, 70.0, scale=20.0)
    close = np.array([100.0, 100.0])
    rsi = np.array([10.0, 90.0])
    with pytest.raises(TypeError, match="'rsi' has a single output"):
        cat.evaluate(rule, RuleInput.of(close, close, {"rsi": rsi}, {"rsi": rsi}))


def test_finish_clips_strengths_and_zeroes_them_without_a_vote():
    votes, strengths = cat.finish(
        np.array([[1.0, -1.0, 0.0, 1.0]]),
        np.array([[3.0, 0.7, 0.9, np.nan]]),
        np.array([[True, True, True, True]]),
    )
    assert votes.dtype == np.int8 and strengths.dtype == np.float32
    assert votes.tolist() == [[1, -1, 0, 1]]
    assert strengths[0].tolist() == pytest.approx([1.0, 0.7, 0.0, 0.0])


def test_trend_rule_reads_ema50_and_the_slope_of_ema20():
    keys = {key for key, _, _ in TREND_RULE.indicators}
    assert keys == {"ema20", "ema50"}
