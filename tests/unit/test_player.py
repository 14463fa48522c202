"""AdaptivePlayer: consensus, the decision gates (threshold, HTF, debounce, cooldown, degraded) and learning."""

import math

import numpy as np
import pytest

from casino_tui.clock import ManualClock
from casino_tui.config import PlayerConfig
from casino_tui.engine.player import AdaptivePlayer
from casino_tui.model import TIMEFRAME_MS, Side
from casino_tui.sensors.votes import VoteBatch

SYMBOLS = ("BTCUSDT", "ETHUSDT")
SENSORS_1M = ("rsi_1m", "macd_1m")
SENSORS_1H = ("ema_1h",)
T0 = 1_767_225_600_000


def config(**kw) -> PlayerConfig:
    base = dict(threshold=0.3, debounce=1, cooldown_s=0.0, htf_filter=False, decision_timeframe="1m")
    base.update(kw)
    return PlayerConfig(**base)


def player(**kw) -> AdaptivePlayer:
    names = SENSORS_1M + SENSORS_1H
    tfs = ("1m",) * len(SENSORS_1M) + ("1h",) * len(SENSORS_1H)
    return AdaptivePlayer(SYMBOLS, names, tfs, config(**kw), ManualClock(T0))


def batch(
    votes,
    strengths=None,
    *,
    k: int = 0,
    timeframe: str = "1m",
    sensors=SENSORS_1M,
    closes=(100.0, 50.0),
    trend=(0, 0),
    degraded=(False, False),
) -> VoteBatch:
    votes = np.array(votes, dtype=np.int8).reshape(len(SYMBOLS), len(sensors))
    strengths = (
        np.ones_like(votes, dtype=np.float32) if strengths is None else np.array(strengths, np.float32)
    )
    return VoteBatch(
        timeframe=timeframe,
        close_ms=T0 + k * TIMEFRAME_MS[timeframe],
        symbols=SYMBOLS,
        sensors=sensors,
        votes=votes,
        strengths=strengths.reshape(votes.shape),
        trend=np.array(trend, dtype=np.int8),
        closes=np.array(closes, dtype=np.float64),
        degraded=np.array(degraded, dtype=bool),
    )


def htf(trend) -> VoteBatch:
    return batch([[0], [0]], timeframe="1h", sensors=SENSORS_1H, trend=trend)


ALL_LONG_BTC = [[1, 1], [0, 0]]


def test_consensus_is_the_weighted_mean_of_vote_times_strength():
    p = player(threshold=0.99)
    p.on_votes(batch([[1, -1], [0, 0]], [[0.8, 0.2], [0, 0]]))
    assert p.score("BTCUSDT") == pytest.approx((0.8 - 0.2) / 2)
    assert p.score("ETHUSDT") == 0.0


def test_below_threshold_no_decision_above_threshold_decides():
    p = player(threshold=0.5)
    assert p.on_votes(batch([[1, 0], [0, 0]], [[0.8, 0], [0, 0]], k=0)) == []  # score 0.4
    decisions = p.on_votes(batch([[1, 1], [0, 0]], [[0.8, 0.4], [0, 0]], k=1))  # score 0.6
    assert [(d.symbol, d.side) for d in decisions] == [("BTCUSDT", Side.BUY)]
    assert decisions[0].score == pytest.approx(0.6)


def test_short_decision_on_negative_consensus():
    decisions = player().on_votes(batch([[0, 0], [-1, -1]]))
    assert [(d.symbol, d.side) for d in decisions] == [("ETHUSDT", Side.SELL)]


def test_htf_filter_blocks_disagreeing_and_flat_trend():
    p = player(htf_filter=True)
    p.on_votes(htf((-1, 0)))
    assert p.on_votes(batch(ALL_LONG_BTC, k=0)) == [], "a falling 1h trend must block a long"
    p.on_votes(htf((0, 0)))
    assert p.on_votes(batch(ALL_LONG_BTC, k=1)) == [], "a flat 1h trend means no decision"
    p.on_votes(htf((1, 0)))
    assert [d.symbol for d in p.on_votes(batch(ALL_LONG_BTC, k=2))] == ["BTCUSDT"]


def test_htf_filter_off_ignores_the_trend():
    p = player(htf_filter=False)
    p.on_votes(htf((-1, -1)))
    assert [d.symbol for d in p.on_votes(batch(ALL_LONG_BTC))] == ["BTCUSDT"]


def test_debounce_needs_consecutive_closes_of_the_same_sign():
    p = player(debounce=3)
    assert p.on_votes(batch(ALL_LONG_BTC, k=0)) == []
    assert p.on_votes(batch(ALL_LONG_BTC, k=1)) == []
    assert p.on_votes(batch([[-1, -1], [0, 0]], k=2)) == [], "a flip restarts the count"
    assert p.on_votes(batch(ALL_LONG_BTC, k=3)) == []
    assert p.on_votes(batch(ALL_LONG_BTC, k=4)) == []
    assert [d.symbol for d in p.on_votes(batch(ALL_LONG_BTC, k=5))] == ["BTCUSDT"]


def test_cooldown_per_symbol():
    p = player(cooldown_s=180.0)  # three 1m closes
    assert len(p.on_votes(batch(ALL_LONG_BTC, k=0))) == 1
    assert p.on_votes(batch(ALL_LONG_BTC, k=1)) == []
    assert p.on_votes(batch(ALL_LONG_BTC, k=2)) == []
    # ETH is not cooling down: its own first signal decides at once.
    assert [d.symbol for d in p.on_votes(batch([[1, 1], [1, 1]], k=2))] == ["ETHUSDT"]
    assert [d.symbol for d in p.on_votes(batch(ALL_LONG_BTC, k=3))] == ["BTCUSDT"]


def test_degraded_rows_never_decide():
    p = player()
    assert p.on_votes(batch([[1, 1], [1, 1]], degraded=(True, False))) == [p.last_decisions["ETHUSDT"]], (
        "only the healthy row decides"
    )
    rows = {r.symbol: r for r in p.rows(T0, lambda s: 0, lambda s: False)}
    assert rows["BTCUSDT"].is_degraded and not rows["ETHUSDT"].is_degraded


def test_only_decision_timeframe_closes_decide():
    p = player(decision_timeframe="5m")
    assert p.on_votes(batch(ALL_LONG_BTC)) == []
    five = batch(ALL_LONG_BTC, timeframe="5m", sensors=SENSORS_1M)
    assert [d.symbol for d in p.on_votes(five)] == ["BTCUSDT"]


def test_nan_strengths_and_closes_do_not_poison_the_score():
    p = player()
    b = batch(ALL_LONG_BTC, [[np.nan, 1.0], [0, 0]], closes=(math.nan, 50.0))
    decisions = p.on_votes(b)
    assert math.isfinite(p.score("BTCUSDT")) and p.score("BTCUSDT") == pytest.approx(0.5)
    assert [d.symbol for d in decisions] == ["BTCUSDT"]


def run_learning(p: AdaptivePlayer, closes_n: int = 60) -> None:
    """BTC rises every close; rsi always votes long (right), macd always short (wrong)."""
    for k in range(closes_n):
        p.on_votes(batch([[1, -1], [0, 0]], k=k, closes=(100.0 + k, 50.0)))


def test_weights_move_up_for_a_right_sensor_and_down_for_a_wrong_one():
    p = player(threshold=0.99, hit_horizon=3, weight_min=0.25, weight_max=3.0)
    run_learning(p)
    w = p.weights
    assert w["rsi_1m"] > 1.5, w
    assert w["macd_1m"] < 0.6, w
    assert w["ema_1h"] == pytest.approx(1.0), "a sensor that never voted keeps its weight"


def test_weights_stay_within_bounds():
    p = player(threshold=0.99, hit_horizon=1, weight_min=0.5, weight_max=2.0)
    run_learning(p, 300)
    w = p.weights
    assert w["rsi_1m"] == pytest.approx(2.0) and w["macd_1m"] == pytest.approx(0.5)


def test_neutral_votes_do_not_count():
    p = player(threshold=0.99, hit_horizon=1)
    for k in range(40):
        p.on_votes(batch([[0, 1], [0, 0]], k=k, closes=(100.0 + k, 50.0)))
    state = p.weights_state()["sensors"]
    assert state["rsi_1m"]["samples"] == 0 and p.weights["rsi_1m"] == pytest.approx(1.0)
    assert state["macd_1m"]["samples"] > 0


def test_learned_weights_shift_the_consensus():
    p = player(threshold=0.99, hit_horizon=3)
    run_learning(p)
    # Equal and opposite votes: the sensor with the better record wins.
    p.on_votes(batch([[1, -1], [0, 0]], k=100, closes=(500.0, 50.0)))
    assert p.score("BTCUSDT") > 0.3


def test_weights_state_round_trips_and_ignores_unknown_or_bad_entries():
    p = player(threshold=0.99, hit_horizon=3)
    run_learning(p)
    saved = p.weights_state()
    fresh = player(threshold=0.99, hit_horizon=3)
    saved["sensors"]["gone_sensor"] = {"hit_rate": 0.9, "samples": 5}
    saved["sensors"]["ema_1h"] = {"hit_rate": float("nan"), "samples": 5}
    assert fresh.load_weights(saved) == 2
    assert fresh.weights == pytest.approx(p.weights)
    assert fresh.load_weights({"nonsense": 1}) == 0


def test_rows_and_detail_show_votes_weights_and_last_decision():
    p = player()
    p.on_votes(htf((1, -1)))
    p.on_votes(batch([[1, 0], [-1, 0]], [[0.95, 0], [0.2, 0]], k=0))  # BTC 0.95/3 sensors
    rows = {r.symbol: r for r in p.rows(T0 + 120_000, lambda s: SYMBOLS.index(s), lambda s: False)}
    btc = rows["BTCUSDT"]
    assert (btc.longs, btc.shorts, btc.neutrals, btc.htf_trend, btc.shard) == (1, 0, 2, 1, 0)
    assert btc.decision == "LONG" and btc.decision_age_s == pytest.approx(60.0)
    assert rows["ETHUSDT"].decision == "" and rows["ETHUSDT"].decision_age_s is None
    detail = {r.sensor: r for r in p.detail("BTCUSDT")}
    assert detail["rsi_1m"].vote == 1 and detail["rsi_1m"].strength == pytest.approx(0.95)
    assert detail["ema_1h"].timeframe == "1h" and detail["ema_1h"].weight == pytest.approx(1.0)
    assert p.detail("NOPE") == ()
