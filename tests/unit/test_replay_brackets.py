"""Brackets on a constructed klines path: entries fill at the last close, a take-profit crossed on the path
fills at its price, and a bar reaching both legs fills the stop (the pessimistic rule)."""

from __future__ import annotations

from pathlib import Path

import pytest
from binance_data_files import T0
from replay_support import MINUTE, klines_file, quiet_config, replay_runtime

from casino_tui.backtest.runtime import ReplayRuntime
from casino_tui.engine.brackets.machine import Bracket
from casino_tui.model import CloseReason, Decision, Side

SYMBOL = "TESTUSDT"
# Bars 0-1 are the warm-up (the runtime starts trading at T0 + 2m with the last close, 100.0).
BARS = [
    (100.0, 100.2, 99.8, 100.0),
    (100.0, 100.3, 99.9, 100.0),
    (100.0, 100.4, 99.7, 100.1),  # 2: quiet
    (100.1, 102.6, 100.0, 102.3),  # 3: low first, then up through the take-profit at 102
    (102.3, 102.4, 99.9, 100.0),  # 4: back to 100 (no bracket open)
    (101.0, 102.5, 97.5, 100.0),  # 5: the high is nearer the open, yet the stop at 98 must fill
    (100.0, 100.2, 99.8, 100.0),  # 6: quiet
]


@pytest.fixture
async def runtime(tmp_path: Path) -> ReplayRuntime:
    files = [klines_file(tmp_path, SYMBOL, BARS)]
    replay = replay_runtime(files, quiet_config(), tmp_path / "state")
    await replay.begin()
    yield replay
    await replay.shutdown()


async def open_long(runtime: ReplayRuntime) -> Bracket:
    assert runtime.croupier is not None
    decision = Decision(SYMBOL, Side.BUY, 1.0, runtime.clock.now_ms())
    bracket = await runtime.croupier.open_bracket(decision, runtime.replay.matching.last_price(SYMBOL))
    assert bracket is not None and bracket.is_protected
    return bracket


async def test_a_long_entered_at_the_last_close_takes_profit_where_the_path_crosses_the_target(
    runtime: ReplayRuntime,
) -> None:
    bracket = await open_long(runtime)
    assert (bracket.entry_price, bracket.qty, bracket.tp_price, bracket.sl_price) == (
        100.0,
        10.0,
        102.0,
        98.0,
    )

    await runtime.replay_until(T0 + 4 * MINUTE)

    assert not bracket.is_active and bracket.close_reason is CloseReason.TP
    assert bracket.exit_price == 102.0  # on the way from 100.0 to 102.6, not at the high
    assert bracket.realized_pnl == pytest.approx(20.0)
    assert bracket.fees == pytest.approx(100.0 * 10 * 0.0004 + 102.0 * 10 * 0.0004)


async def test_a_bar_reaching_both_take_profit_and_stop_loss_fills_the_stop(runtime: ReplayRuntime) -> None:
    await runtime.replay_until(T0 + 5 * MINUTE)
    bracket = await open_long(runtime)
    assert bracket.entry_price == 100.0

    await runtime.replay_until(T0 + 6 * MINUTE)

    assert not bracket.is_active and bracket.close_reason is CloseReason.SL
    assert bracket.exit_price == 98.0  # where the drop crossed the stop, not the bar's low of 97.5
    assert bracket.realized_pnl == pytest.approx(-20.0)
    assert bracket.fees == pytest.approx(100.0 * 10 * 0.0004 + 98.0 * 10 * 0.0004)
    assert runtime.replay.kline_fills is not None and runtime.replay.kline_fills.both_legs_reached == 1


async def test_the_stop_first_reordering_leaves_the_engines_candle_equal_to_the_file(
    runtime: ReplayRuntime,
) -> None:
    await runtime.replay_until(T0 + 5 * MINUTE)
    await open_long(runtime)

    await runtime.replay_until(T0 + 7 * MINUTE)

    candle = next(c for c in runtime.engine.candles.recent("1m", SYMBOL, 10) if c.open_ms == T0 + 5 * MINUTE)
    assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == (
        101.0,
        102.5,
        97.5,
        100.0,
        1000.0,
    )


async def test_the_report_counts_both_brackets_with_their_net_pnl(runtime: ReplayRuntime) -> None:
    await open_long(runtime)
    await runtime.replay_until(T0 + 5 * MINUTE)
    await open_long(runtime)
    await runtime.replay_until()

    report = runtime.build_report()

    win = 20.0 - (0.4 + 0.408)
    loss = 20.0 + (0.4 + 0.392)
    assert (report.trades, report.wins, report.losses, report.win_rate) == (2, 1, 1, 50.0)
    assert report.net_pnl == pytest.approx(win - loss)
    assert report.fees == pytest.approx(1.6)
    assert report.profit_factor == pytest.approx(win / loss, rel=1e-5)
    assert report.complete and report.stopped_by == "end of data"
    assert [(t.reason, t.net_pnl) for t in report.trade_list] == [
        ("TP", pytest.approx(win)),
        ("SL", pytest.approx(-loss)),
    ]
