"""Incremental indicator states against the batch forms: fed one candle at a time for several symbols, every
state returns the last column of the batch form over the same history (1e-9 relative)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

import casino_tui.sensors.indicators as ind
from tests.unit.test_indicators import Ohlcv, flat_ohlcv, flat_tail_ohlcv, random_ohlcv, volume_drought_ohlcv

N_SYMBOLS = 5
N_BARS = 300


class StateCase(NamedTuple):
    name: str
    make: Callable[[int], ind.IndicatorState]
    batch: Callable[[Ohlcv], np.ndarray | tuple[np.ndarray, ...]]


def _hl2(d: Ohlcv) -> np.ndarray:
    return (d.h + d.l) / 2.0


def _hlc3(d: Ohlcv) -> np.ndarray:
    return (d.h + d.l + d.c) / 3.0


CASES = [
    StateCase("Sma", lambda n: ind.SmaState(n, 20), lambda d: ind.sma(d.c, 20)),
    StateCase("Sma_hl2", lambda n: ind.SmaState(n, 7, source="hl2"), lambda d: ind.sma(_hl2(d), 7)),
    StateCase("Ema", lambda n: ind.EmaState(n, 20), lambda d: ind.ema(d.c, 20)),
    StateCase("Ema_open", lambda n: ind.EmaState(n, 5, source="open"), lambda d: ind.ema(d.o, 5)),
    StateCase("Wma", lambda n: ind.WmaState(n, 10), lambda d: ind.wma(d.c, 10)),
    StateCase("Dema", lambda n: ind.DemaState(n, 10), lambda d: ind.dema(d.c, 10)),
    StateCase("Tema", lambda n: ind.TemaState(n, 10), lambda d: ind.tema(d.c, 10)),
    StateCase("Rsi", lambda n: ind.RsiState(n), lambda d: ind.rsi(d.c)),
    StateCase("Rsi_7_high", lambda n: ind.RsiState(n, 7, source="high"), lambda d: ind.rsi(d.h, 7)),
    StateCase("Macd", lambda n: ind.MacdState(n), lambda d: ind.macd(d.c)),
    StateCase(
        "Macd_hl2", lambda n: ind.MacdState(n, 5, 13, 4, source="hl2"), lambda d: ind.macd(_hl2(d), 5, 13, 4)
    ),
    StateCase("Bbands", lambda n: ind.BbandsState(n), lambda d: ind.bbands(d.c)),
    StateCase(
        "Bbands_hlc3", lambda n: ind.BbandsState(n, 10, 1.5, "hlc3"), lambda d: ind.bbands(_hlc3(d), 10, 1.5)
    ),
    StateCase("Atr", lambda n: ind.AtrState(n), lambda d: ind.atr(d.h, d.l, d.c)),
    StateCase(
        "Adx",
        lambda n: ind.AdxState(n),
        lambda d: (ind.adx(d.h, d.l, d.c), ind.plus_di(d.h, d.l, d.c), ind.minus_di(d.h, d.l, d.c)),
    ),
    StateCase("Stoch", lambda n: ind.StochState(n), lambda d: ind.stoch(d.h, d.l, d.c)),
    StateCase("StochRsi", lambda n: ind.StochRsiState(n), lambda d: ind.stochrsi(d.c)),
    StateCase("Cci", lambda n: ind.CciState(n), lambda d: ind.cci(d.h, d.l, d.c)),
    StateCase("Willr", lambda n: ind.WillrState(n), lambda d: ind.willr(d.h, d.l, d.c)),
    StateCase("Roc", lambda n: ind.RocState(n), lambda d: ind.roc(d.c)),
    StateCase("Mom", lambda n: ind.MomState(n), lambda d: ind.mom(d.c)),
    StateCase("Mfi", lambda n: ind.MfiState(n), lambda d: ind.mfi(d.h, d.l, d.c, d.v)),
    StateCase("Obv", lambda n: ind.ObvState(n), lambda d: ind.obv(d.c, d.v)),
    StateCase("Trix", lambda n: ind.TrixState(n), lambda d: ind.trix(d.c)),
    StateCase("Aroon", lambda n: ind.AroonState(n), lambda d: ind.aroon(d.h, d.l)),
    StateCase("Sar", lambda n: ind.SarState(n), lambda d: ind.sar(d.h, d.l)),
    StateCase("Ultosc", lambda n: ind.UltoscState(n), lambda d: ind.ultosc(d.h, d.l, d.c)),
    StateCase("LinregSlope", lambda n: ind.LinregSlopeState(n), lambda d: ind.linreg_slope(d.c)),
    StateCase("Vwap", lambda n: ind.VwapState(n), lambda d: ind.vwap(d.h, d.l, d.c, d.v)),
    StateCase("Donchian", lambda n: ind.DonchianState(n), lambda d: ind.donchian(d.h, d.l)),
    StateCase("Keltner", lambda n: ind.KeltnerState(n), lambda d: ind.keltner(d.h, d.l, d.c)),
    StateCase("Supertrend", lambda n: ind.SupertrendState(n), lambda d: ind.supertrend(d.h, d.l, d.c)),
    StateCase("Ichimoku", lambda n: ind.IchimokuState(n), lambda d: ind.ichimoku(d.h, d.l)),
    StateCase("Dpo", lambda n: ind.DpoState(n), lambda d: ind.dpo(d.c)),
    StateCase("Cmf", lambda n: ind.CmfState(n), lambda d: ind.cmf(d.h, d.l, d.c, d.v)),
]
IDS = [c.name for c in CASES]


def _tuple(x) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def _walk() -> Ohlcv:
    return random_ohlcv(31, N_BARS, N_SYMBOLS, gap_prob=0.03)


def _mixed() -> Ohlcv:
    """Five symbols that misbehave differently: a walk going flat, a volume drought, a flat line, a
    low-priced walk and a gappy one."""
    rows = [
        flat_tail_ohlcv(),
        volume_drought_ohlcv(),
        flat_ohlcv(N_BARS),
        random_ohlcv(43, N_BARS, start=3e-5),
        random_ohlcv(44, N_BARS, gap_prob=0.1),
    ]
    return Ohlcv(*(np.stack([r[k] for r in rows]) for k in range(5)))


def _feed(state: ind.IndicatorState, d: Ohlcv, steps: range) -> list[tuple[np.ndarray, ...]]:
    return [_tuple(state.update(d.o[:, t], d.h[:, t], d.l[:, t], d.c[:, t], d.v[:, t])) for t in steps]


def _assert_step_equal(
    step: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...], scale: float, t: int
) -> None:
    assert len(step) == len(expected)
    for got, want in zip(step, expected, strict=True):
        assert got.shape == (N_SYMBOLS,)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN pattern differs at t={t}")
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * scale, err_msg=f"value differs at t={t}")


@pytest.mark.parametrize("data", [_walk, _mixed], ids=["walk", "mixed"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_update_equals_the_batch_column(case: StateCase, data) -> None:
    d = data()
    batch = _tuple(case.batch(d))
    scale = max(max(float(np.nanmax(np.abs(b))) for b in batch), float(d.c.max()))
    state = case.make(N_SYMBOLS)
    for t, step in enumerate(_feed(state, d, range(N_BARS))):
        _assert_step_equal(step, tuple(b[:, t] for b in batch), scale, t)
    assert state.warm == N_BARS


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_update_equals_last_column_of_batch_over_the_same_history(case: StateCase) -> None:
    d = _walk()
    state = case.make(N_SYMBOLS)
    checkpoints = {state.lookback - 1, state.lookback, state.lookback + 1, 150, N_BARS - 1}
    for t, step in enumerate(_feed(state, d, range(N_BARS))):
        if t in checkpoints and t >= 0:
            prefix = Ohlcv(*(a[:, : t + 1] for a in d))
            batch = _tuple(case.batch(prefix))
            scale = max(float(np.nanmax(np.abs(np.stack(batch)), initial=0.0)), float(prefix.c.max()))
            _assert_step_equal(step, tuple(b[:, -1] for b in batch), scale, t)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lookback_is_the_index_of_the_first_complete_output(case: StateCase) -> None:
    d = _walk()
    state = case.make(N_SYMBOLS)
    steps = _feed(state, d, range(state.lookback + 1))
    assert not state.is_ready or state.warm == state.lookback + 1
    if state.lookback > 0:
        assert any(np.isnan(out).all() for out in steps[state.lookback - 1]), (
            "an output is NaN before lookback"
        )
    assert all(np.isfinite(out).all() for out in steps[state.lookback]), "every output is valid at lookback"
    assert state.is_ready


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reset_forgets_history(case: StateCase) -> None:
    d = _walk()
    fresh = _feed(case.make(N_SYMBOLS), d, range(120))
    state = case.make(N_SYMBOLS)
    _feed(state, Ohlcv(*(a[:, ::-1] for a in d)), range(77))
    state.reset()
    assert state.warm == 0
    again = _feed(state, d, range(120))
    for a, b in zip(fresh, again, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_returned_arrays_stay_valid_and_reused_input_buffers_are_safe(case: StateCase) -> None:
    """A caller may keep what update returned, and may refill the same input buffers for the next candle."""
    d = _walk()
    expected = _feed(case.make(N_SYMBOLS), d, range(N_BARS))
    state = case.make(N_SYMBOLS)
    buffers = [np.empty(N_SYMBOLS) for _ in range(5)]
    kept = []
    for t in range(N_BARS):
        for buf, series in zip(buffers, d, strict=True):
            buf[:] = series[:, t]
        kept.append(_tuple(state.update(*buffers)))
    for t, (got, want) in enumerate(zip(kept, expected, strict=True)):
        for x, y in zip(got, want, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"output kept from t={t} changed or differs")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_an_empty_shard_updates_without_error(case: StateCase) -> None:
    state = case.make(0)
    empty = np.empty(0)
    for _ in range(state.lookback + 2):
        out = _tuple(state.update(empty, empty, empty, empty, empty))
    assert all(o.shape == (0,) for o in out)
    assert state.is_ready


@pytest.mark.parametrize(
    ("make", "given", "missing"),
    [
        (lambda: ind.AtrState(2, 3), {"low", "close"}, "high"),
        (lambda: ind.ObvState(2), {"open", "high", "low", "close"}, "volume"),
        (lambda: ind.SmaState(2, 3, source="hl2"), {"high", "close"}, "low"),
    ],
    ids=["atr", "obv", "sma_hl2"],
)
def test_a_state_fed_without_a_field_it_reads_names_that_field(
    make: Callable[[], ind.IndicatorState], given: set[str], missing: str
) -> None:
    fields = {
        name: np.ones(2) if name in given else None for name in ("open", "high", "low", "close", "volume")
    }
    with pytest.raises(ValueError, match=f"reads the candle's {missing}"):
        make().update(**fields)


def test_every_state_named_in_the_interface_exists_and_takes_a_candle() -> None:
    names = [
        "SmaState", "EmaState", "WmaState", "DemaState", "TemaState", "RsiState", "MacdState", "BbandsState",
        "AtrState", "AdxState", "StochState", "StochRsiState", "CciState", "WillrState", "RocState", "MomState",
        "MfiState", "ObvState", "TrixState", "AroonState", "SarState", "UltoscState", "LinregSlopeState",
        "VwapState", "DonchianState", "KeltnerState", "SupertrendState", "IchimokuState", "DpoState", "CmfState",
    ]  # fmt: skip
    d = random_ohlcv(2, 3, n_symbols=3)
    for name in names:
        cls = getattr(ind, name)
        state = (
            cls(3, 5) if name in {"SmaState", "EmaState", "WmaState", "DemaState", "TemaState"} else cls(3)
        )
        assert isinstance(state, ind.IndicatorState)
        out = state.update(open=d.o[:, 0], high=d.h[:, 0], low=d.l[:, 0], close=d.c[:, 0], volume=d.v[:, 0])
        assert all(o.shape == (3,) for o in _tuple(out))
        assert state.warm == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: ind.SmaState(3, 5, source="median"),
        lambda: ind.EmaState(3, 0),
        lambda: ind.RsiState(-1),
        lambda: ind.StochState(3, fastk=0),
        lambda: ind.SarState(3, acceleration=-0.1),
    ],
    ids=["unknown_source", "zero_period", "negative_symbols", "zero_fastk", "negative_acceleration"],
)
def test_bad_state_parameters_raise_value_error(make) -> None:
    with pytest.raises(ValueError):
        make()
