"""Replay sources: Binance klines and aggTrades files (plain or zipped, header or not, ms or µs) become one
time-ordered stream of trades; klines rebuild their own OHLCV in the engine's candles; rules come from the
data; malformed rows are counted with file and line; other files are refused in one line."""

from __future__ import annotations

import gzip
import random
import zipfile
from pathlib import Path

import pytest
from binance_data_files import AGG_TRADES_HEADER, KLINES_HEADER, T0, agg_row, kline_row, write_csv

from casino_tui.engine.candles import CandleBook
from casino_tui.exchange.replay.binance_files import Cursor, read_agg_trade_blocks, read_agg_trades
from casino_tui.exchange.replay.errors import BadRows
from casino_tui.exchange.replay.klines import BothTouched, BracketExit, Kline, exit_in_bar, path_trades
from casino_tui.exchange.replay.merge import merge_blocks, whole_times
from casino_tui.exchange.replay.sources import (
    BadRow,
    ReplayFormatError,
    open_source,
    parse_utc_ms,
)
from casino_tui.model import TIMEFRAME_MS, TIMEFRAMES, Candle, Side, Trade

MIN = 60_000

AGG_ROWS = [
    agg_row(101, "42000.1", "0.512", T0, True),
    agg_row(102, "42000.2", "0.25", T0 + 500, False),
    agg_row(103, "41999.9", "1.000", T0 + 500, True),
    agg_row(104, "42001.0", "0.003", T0 + 61_000, False),
]
AGG_TRADES = [
    Trade("BTCUSDT", 42000.1, 0.512, T0, True),
    Trade("BTCUSDT", 42000.2, 0.25, T0 + 500, False),
    Trade("BTCUSDT", 41999.9, 1.0, T0 + 500, True),
    Trade("BTCUSDT", 42001.0, 0.003, T0 + 61_000, False),
]


# ---- the two Binance formats --------------------------------------------------------------------------------


@pytest.mark.parametrize("zipped", [False, True], ids=["plain", "zipped"])
@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
def test_agg_trades_file_gives_its_trades_plain_or_zipped_with_or_without_header(tmp_path, zipped, header):
    path = write_csv(
        tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv",
        AGG_ROWS,
        header=AGG_TRADES_HEADER if header else None,
        zipped=zipped,
    )
    source = open_source([path])
    assert source.symbols == ["BTCUSDT"]
    assert source.interval_ms == {"BTCUSDT": None}
    assert list(source.trades()) == AGG_TRADES
    assert (source.start_ms, source.end_ms) == (T0, T0 + 61_000)
    assert source.bad_row_count == 0


def test_agg_trades_in_microseconds_give_the_same_trades_as_in_milliseconds(tmp_path):
    micros = [
        agg_row(101, "42000.1", "0.512", T0, True, micros=True),
        agg_row(102, "42000.2", "0.25", T0 + 500, False, micros=True),
        agg_row(103, "41999.9", "1.000", T0 + 500, True, micros=True),
        agg_row(104, "42001.0", "0.003", T0 + 61_000, False, micros=True),
    ]
    path = write_csv(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", micros, zipped=True)
    assert list(open_source([path]).trades()) == AGG_TRADES


@pytest.mark.parametrize("zipped", [False, True], ids=["plain", "zipped"])
@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
@pytest.mark.parametrize("micros", [False, True], ids=["ms", "us"])
def test_klines_file_gives_four_path_trades_per_bar(tmp_path, zipped, header, micros):
    rows = [
        kline_row(T0, "1.0713", "1.0720", "1.0700", "1.0715", "1000", micros=micros),
        kline_row(T0 + MIN, "1.0715", "1.0716", "1.0701", "1.0702", "500.5", micros=micros),
    ]
    path = write_csv(
        tmp_path / "XRPUSDT-1m-2024-01-01.csv", rows, header=KLINES_HEADER if header else None, zipped=zipped
    )
    source = open_source([path])
    trades = list(source.trades())
    assert source.interval_ms == {"XRPUSDT": MIN}
    assert [t.price for t in trades] == [1.0713, 1.0720, 1.0700, 1.0715, 1.0715, 1.0716, 1.0701, 1.0702]
    assert [t.ts_ms for t in trades[:4]] == [T0, T0 + 20_000, T0 + 40_000, T0 + MIN - 1]
    assert (source.start_ms, source.end_ms) == (T0, T0 + 2 * MIN - 1)


def test_a_gzipped_csv_reads_like_the_plain_one(tmp_path):
    path = tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(AGG_ROWS) + "\n").encode()))
    assert list(open_source([path]).trades()) == AGG_TRADES


def test_a_file_without_a_binance_name_takes_symbol_and_interval_from_the_arguments(tmp_path):
    rows = [
        kline_row(T0, "100", "110", "90", "105", "8", 5 * MIN),
        kline_row(T0 + 5 * MIN, "105", "106", "104", "104", "4", 5 * MIN),
    ]
    path = write_csv(tmp_path / "bars.csv", rows)
    source = open_source([path], symbol="solusdt", interval="5m")
    assert source.symbols == ["SOLUSDT"]
    assert source.interval_ms == {"SOLUSDT": 5 * MIN}
    assert {t.symbol for t in source.trades()} == {"SOLUSDT"}


def test_the_klines_interval_is_read_from_the_bars_when_nothing_names_it(tmp_path):
    rows = [kline_row(T0, "100", "110", "90", "105", "8", 15 * MIN)]
    path = write_csv(tmp_path / "bars.csv", rows, header=KLINES_HEADER)
    assert open_source([path], symbol="SOLUSDT").interval_ms == {"SOLUSDT": 15 * MIN}


def test_an_explicit_symbol_is_required_when_the_name_does_not_say_it(tmp_path):
    path = write_csv(tmp_path / "trades.csv", AGG_ROWS)
    with pytest.raises(ReplayFormatError, match="trades.csv: cannot tell the symbol"):
        open_source([path])


# ---- klines → the engine's candles -----------------------------------------------------------------------------


def random_bars(rng: random.Random, start_ms: int, interval_ms: int, count: int, price: float) -> list[str]:
    rows = []
    for i in range(count):
        o = round(price, 4)
        c = round(o * (1 + rng.uniform(-0.01, 0.01)), 4)
        h = round(max(o, c) * (1 + rng.uniform(0, 0.005)), 4)
        lo = round(min(o, c) * (1 - rng.uniform(0, 0.005)), 4)
        v = f"{rng.uniform(0, 5000):.3f}"
        rows.append(
            kline_row(
                start_ms + i * interval_ms, f"{o:.4f}", f"{h:.4f}", f"{lo:.4f}", f"{c:.4f}", v, interval_ms
            )
        )
        price = c
    return rows


def file_bars(rows: list[str], symbol: str, timeframe: str) -> list[Candle]:
    out = []
    for row in rows:
        f = row.split(",")
        o, h, lo, c, v = (float(x) for x in f[1:6])
        out.append(Candle(symbol, timeframe, int(f[0]), o, h, lo, c, v))
    return out


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_klines_replay_rebuilds_the_files_ohlcv_exactly_in_the_engines_candles(tmp_path, timeframe):
    rng = random.Random(7)
    interval = TIMEFRAME_MS[timeframe]
    rows = {
        sym: random_bars(rng, T0, interval, 30, p) for sym, p in (("ADAUSDT", 0.5912), ("XRPUSDT", 1.0713))
    }
    paths = [write_csv(tmp_path / f"{sym}-{timeframe}-2024-01.csv", r) for sym, r in rows.items()]
    source = open_source(paths)
    closed: dict[str, list[Candle]] = {"ADAUSDT": [], "XRPUSDT": []}

    def on_close(tf: str, open_ms: int, candles: list[Candle]) -> None:
        if tf == timeframe:
            for candle in candles:
                closed[candle.symbol].append(candle)

    book = CandleBook(source.symbols, TIMEFRAMES, on_close=on_close)
    for trade in source.trades():
        book.close_due(trade.ts_ms)  # as the runtime's clock does, following the data
        book.add_trade(trade.symbol, trade.price, trade.qty, trade.ts_ms)
    book.close_due(source.end_ms + 1)
    for sym, sym_rows in rows.items():
        got = [(c.open_ms, c.open, c.high, c.low, c.close, c.volume) for c in closed[sym]]
        want = [
            (c.open_ms, c.open, c.high, c.low, c.close, c.volume) for c in file_bars(sym_rows, sym, timeframe)
        ]
        assert got == want


def test_the_path_visits_open_then_the_nearer_extreme_then_the_other_then_close():
    nearer_high = Kline("BTCUSDT", T0, MIN, open=100.0, high=101.0, low=95.0, close=99.0, volume=4.0)
    nearer_low = Kline("BTCUSDT", T0, MIN, open=100.0, high=105.0, low=99.0, close=101.0, volume=4.0)
    assert [t.price for t in path_trades(nearer_high)] == [100.0, 101.0, 95.0, 99.0]
    assert [t.price for t in path_trades(nearer_low)] == [100.0, 99.0, 105.0, 101.0]


def test_an_open_halfway_between_the_extremes_visits_the_low_first():
    bar = Kline("BTCUSDT", T0, MIN, open=100.0, high=102.0, low=98.0, close=101.0, volume=1.0)
    assert [t.price for t in path_trades(bar)] == [100.0, 98.0, 102.0, 101.0]


def test_the_path_volume_adds_up_to_the_bar_volume_to_the_bit():
    rng = random.Random(3)
    for _ in range(2000):
        volume = float(f"{rng.uniform(0, 1e7):.{rng.randint(0, 8)}f}")
        bar = Kline("X", T0, MIN, 1.0, 1.0, 1.0, 1.0, volume)
        total = 0.0
        for trade in path_trades(bar):
            total += trade.qty
        assert total == volume


def test_a_bar_touching_both_tp_and_sl_closes_at_the_stop_by_default():
    # The high (TP of the long) is nearer the open, so the path reaches the TP first.
    bar = Kline("BTCUSDT", T0, MIN, open=100.0, high=102.0, low=95.0, close=100.0, volume=1.0)
    assert exit_in_bar(bar, Side.BUY, take_profit=101.0, stop_loss=96.0) is BracketExit.STOP_LOSS
    assert exit_in_bar(bar, Side.BUY, 101.0, 96.0, BothTouched.PATH) is BracketExit.TAKE_PROFIT
    assert exit_in_bar(bar, Side.SELL, take_profit=96.0, stop_loss=101.0) is BracketExit.STOP_LOSS


def test_a_bar_touching_one_leg_only_fills_that_leg():
    bar = Kline("BTCUSDT", T0, MIN, open=100.0, high=102.0, low=99.0, close=101.0, volume=1.0)
    assert exit_in_bar(bar, Side.BUY, take_profit=101.5, stop_loss=95.0) is BracketExit.TAKE_PROFIT
    assert exit_in_bar(bar, Side.SELL, take_profit=95.0, stop_loss=101.5) is BracketExit.STOP_LOSS
    assert exit_in_bar(bar, Side.BUY, take_profit=103.0, stop_loss=98.0) is None


def test_bar_at_names_the_bar_behind_each_path_trade(tmp_path):
    rows = [
        kline_row(T0, "100", "110", "90", "105", "8"),
        kline_row(T0 + MIN, "105", "106", "104", "104", "4"),
    ]
    source = open_source([write_csv(tmp_path / "SOLUSDT-1m-2024-01.csv", rows)])
    for trade in source.trades():
        bar = source.bar_at(trade.symbol, trade.ts_ms)
        assert bar is not None and bar.open_ms == trade.ts_ms - trade.ts_ms % MIN and bar.holds(trade.price)


# ---- several files and symbols ------------------------------------------------------------------------------------


def two_symbol_files(tmp_path: Path) -> list[Path]:
    btc = [agg_row(i, "42000.0", "0.1", T0 + 10 * i) for i in range(1, 50)]
    eth = [agg_row(i, "2300.00", "1.0", T0 + 7 * i) for i in range(1, 50)]
    return [
        write_csv(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", btc),
        write_csv(tmp_path / "ETHUSDT-aggTrades-2024-01-01.csv", eth, zipped=True),
    ]


def test_symbols_merge_in_time_order_whatever_the_order_of_the_files(tmp_path):
    paths = two_symbol_files(tmp_path)
    forward = list(open_source(paths).trades())
    backward = list(open_source(paths[::-1]).trades())
    assert forward == backward
    keys = [(t.ts_ms, t.symbol) for t in forward]
    assert keys == sorted(keys), "time order, ties to the symbol first by name"
    assert len(forward) == 98


def test_consecutive_daily_files_of_one_symbol_play_one_after_the_other(tmp_path):
    day = 86_400_000
    first = write_csv(
        tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv",
        [agg_row(1, "1.5", "1", T0), agg_row(2, "1.6", "1", T0 + 5)],
    )
    second = write_csv(
        tmp_path / "BTCUSDT-aggTrades-2024-01-02.csv", [agg_row(3, "1.7", "1", T0 + day)], zipped=True
    )
    source = open_source([second, first])
    assert [t.price for t in source.trades()] == [1.5, 1.6, 1.7]
    assert (source.start_ms, source.end_ms) == (T0, T0 + day)


def test_overlapping_files_replay_each_trade_once_and_count_the_repeats(tmp_path):
    rows = [agg_row(i, "1.5", "1", T0 + i) for i in range(1, 6)]
    monthly = write_csv(tmp_path / "BTCUSDT-aggTrades-2024-01.csv", rows)
    daily = write_csv(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", rows[2:])
    source = open_source([monthly, daily])
    assert len(list(source.trades())) == 5
    assert source.bad_row_count == 3
    assert [(r.file, r.line) for r in source.bad_rows] == [
        ("BTCUSDT-aggTrades-2024-01-01.csv", n) for n in (1, 2, 3)
    ]


def test_from_and_to_select_a_half_open_window(tmp_path):
    paths = two_symbol_files(tmp_path)
    source = open_source(paths, from_ms=T0 + 100, to_ms=T0 + 200)
    trades = list(source.trades())
    assert trades and all(T0 + 100 <= t.ts_ms < T0 + 200 for t in trades)
    assert (source.start_ms, source.end_ms) == (T0 + 100, T0 + 199)


def test_a_window_outside_the_data_is_refused(tmp_path):
    with pytest.raises(ReplayFormatError, match="no data between --from and --to"):
        open_source(two_symbol_files(tmp_path), from_ms=T0 + 10**9)


def test_progress_runs_from_zero_to_one_with_the_data(tmp_path):
    source = open_source(two_symbol_files(tmp_path))
    seen = [source.progress()]
    for _ in source.trades():
        seen.append(source.progress())
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)
    assert 0.4 < seen[len(seen) // 2] < 0.6


def test_a_symbol_given_as_klines_and_as_agg_trades_is_refused(tmp_path):
    trades = write_csv(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", AGG_ROWS)
    bars = write_csv(tmp_path / "BTCUSDT-1m-2024-01-01.csv", [kline_row(T0, "1", "1", "1", "1", "1")])
    with pytest.raises(ReplayFormatError, match="BTCUSDT data comes as"):
        open_source([trades, bars])


def test_utc_times_parse_as_dates_date_times_or_epoch_ms():
    assert parse_utc_ms("2024-01-01") == T0
    assert parse_utc_ms("2024-01-01T00:01") == T0 + MIN
    assert parse_utc_ms(str(T0)) == T0
    with pytest.raises(ValueError, match="not a time"):
        parse_utc_ms("yesterday")


# ---- rules from the data ------------------------------------------------------------------------------------------


def test_tick_and_step_are_the_finest_increments_in_the_data(tmp_path):
    rows = [
        agg_row(1, "1.0713", "12", T0),
        agg_row(2, "1.07", "0.5", T0 + 1),
        agg_row(3, "1.1", "3.25", T0 + 2),
    ]
    rules = open_source([write_csv(tmp_path / "XRPUSDT-aggTrades-2024-01-01.csv", rows)]).rules["XRPUSDT"]
    assert (rules.tick_size, rules.step_size, rules.min_qty) == ("0.0001", "0.01", "0.01")
    assert rules.format_price(1.07134) == "1.0713"


def test_tiny_prices_get_a_tick_fine_enough_for_them(tmp_path):
    rows = [agg_row(1, "0.00001234", "1000000", T0), agg_row(2, "0.00001230", "5000", T0 + 1)]
    rules = open_source([write_csv(tmp_path / "PEPEUSDT-aggTrades-2024-01-01.csv", rows)]).rules["PEPEUSDT"]
    assert (rules.tick_size, rules.step_size) == ("0.00000001", "1")
    assert rules.format_price(0.000012344) == "0.00001234"


def test_float_noise_in_the_file_does_not_make_a_finer_tick(tmp_path):
    rows = [agg_row(1, "0.30000000000000004", "1.0000000000000002", T0), agg_row(2, "0.4", "2", T0 + 1)]
    rules = open_source([write_csv(tmp_path / "ABCUSDT-aggTrades-2024-01-01.csv", rows)]).rules["ABCUSDT"]
    assert (rules.tick_size, rules.step_size) == ("0.1", "1")


def test_given_tick_and_step_sizes_win_over_the_data(tmp_path):
    path = write_csv(tmp_path / "XRPUSDT-aggTrades-2024-01-01.csv", [agg_row(1, "1.0713", "12", T0)])
    rules = open_source([path], tick_size=0.0005, step_size=0.1).rules["XRPUSDT"]
    assert (rules.tick_size, rules.step_size) == ("0.0005", "0.1")
    assert rules.format_price(1.07134) == "1.0715"


# ---- bad data -------------------------------------------------------------------------------------------------------


def test_malformed_agg_trade_rows_are_counted_with_file_and_line_and_skipped(tmp_path):
    rows = [
        agg_row(1, "100.0", "1", T0),
        "2,abc,1,0,0,1704067200001,true",  # line 3: bad number
        "3,100.5,1",  # line 4: missing columns
        agg_row(4, "100.5", "1", T0 - 5),  # line 5: time goes back
        agg_row(4, "100.5", "1", T0 + 5),  # line 6: kept
        agg_row(4, "100.6", "1", T0 + 6),  # line 7: same id again
        agg_row(5, "-1", "1", T0 + 7),  # line 8: negative price
        agg_row(6, "100.7", "2", T0 + 8),
    ]
    path = write_csv(
        tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", rows, header=AGG_TRADES_HEADER, zipped=True
    )
    source = open_source([path])
    assert [t.price for t in source.trades()] == [100.0, 100.5, 100.7]
    name = "BTCUSDT-aggTrades-2024-01-01.zip"
    assert source.bad_rows == [
        BadRow(name, 3, "bad number or flag"),
        BadRow(name, 4, "missing columns (3 of 7)"),
        BadRow(name, 5, "out-of-order time"),
        BadRow(name, 7, "duplicate trade id"),
        BadRow(name, 8, "price or quantity out of range"),
    ]
    assert source.bad_row_count == 5


def test_malformed_kline_rows_are_counted_with_file_and_line_and_skipped(tmp_path):
    rows = [
        kline_row(T0, "100", "110", "90", "105", "8"),  # line 1
        kline_row(T0 + MIN, "105", "100", "104", "104", "4"),  # line 2: high < low
        kline_row(T0 - MIN, "105", "106", "104", "104", "4"),  # line 3: time goes back
        kline_row(T0 + MIN, "105", "106", "104", "104", "x"),  # line 4: bad number
        kline_row(T0 + MIN, "105", "106", "104", "104", "4"),  # line 5: kept
        kline_row(T0 + MIN, "104", "106", "104", "104", "4"),  # line 6: same time again
        f"{T0 + 2 * MIN},105,106",  # line 7: missing columns
        kline_row(T0 + 2 * MIN, "107", "106", "104", "104", "4"),  # line 8: open above the high
        kline_row(T0 + 3 * MIN, "104", "106", "104", "105", "4"),
    ]
    source = open_source([write_csv(tmp_path / "SOLUSDT-1m-2024-01.csv", rows)])
    opens = sorted({source.bar_at(t.symbol, t.ts_ms).open_ms for t in source.trades()})
    assert opens == [T0, T0 + MIN, T0 + 3 * MIN]
    assert [(r.line, r.reason) for r in source.bad_rows] == [
        (2, "high < low"),
        (3, "out-of-order time"),
        (4, "bad number or flag"),
        (6, "duplicate time"),
        (7, "missing columns (3 of 7)"),
        (8, "open or close outside low..high"),
    ]


def test_bad_rows_kept_are_bounded_but_all_are_counted(tmp_path):
    rows = [agg_row(1, "1.5", "1", T0)] + ["x,y,z"] * 1500 + [agg_row(2, "1.5", "1", T0 + 1)]
    source = open_source([write_csv(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", rows)])
    assert len(list(source.trades())) == 2
    assert source.bad_row_count == 1500
    assert len(source.bad_rows) == 1000


def test_a_second_pass_counts_the_bad_rows_afresh(tmp_path):
    rows = [agg_row(1, "1.5", "1", T0), "junk", agg_row(2, "1.5", "1", T0 + 1)]
    source = open_source([write_csv(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", rows)])
    assert list(source.trades()) == list(source.trades())
    assert source.bad_row_count == 1


def write_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("BTCUSDT-aggTrades-2024-01-01.csv", "", "empty file"),
        ("notes.csv", '{"not": "csv"}\n', "not a Binance klines or aggTrades CSV file"),
        ("BTCUSDT-data.csv", "1,2,3,4,5\n6,7,8,9,10\n", "5 columns"),
        ("BTCUSDT-aggTrades-2024-01-01.csv", "a,b,c,d,e,f,g\n1,2\n", "not a Binance aggTrades CSV file"),
        (
            "BTCUSDT-trades-2024-01-01.csv",
            "1,42000.1,0.1,4200.01,1704067200000,true\n",
            "Binance trades data",
        ),
        ("BTCUSDT-5m-2024-01.csv", kline_row(T0, "1", "1", "1", "1", "1") + "\n", "not 5m"),
    ],
)
def test_a_file_that_is_not_one_of_the_formats_is_refused_naming_it(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ReplayFormatError, match=message) as refused:
        open_source([path])
    assert name in str(refused.value) and "\n" not in str(refused.value)


def test_a_file_without_line_ends_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv"
    path.write_bytes(b"1,2,3," * 200_000)
    with pytest.raises(ReplayFormatError, match="a line longer than"):
        open_source([path])


def test_a_zip_holding_two_files_is_refused(tmp_path):
    path = write_zip(tmp_path / "BTCUSDT-aggTrades-2024-01.zip", {"a.csv": AGG_ROWS[0], "b.csv": AGG_ROWS[1]})
    with pytest.raises(ReplayFormatError, match="holds 2"):
        open_source([path])


def test_a_corrupt_zip_is_refused_naming_it(tmp_path):
    path = write_csv(tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv", AGG_ROWS * 50, zipped=True)
    data = bytearray(path.read_bytes())
    data[60:90] = b"\xff" * 30  # inside the deflated member
    path.write_bytes(bytes(data))
    with pytest.raises(ReplayFormatError, match="BTCUSDT-aggTrades-2024-01-01.zip"):
        open_source([path])


def test_a_missing_file_is_refused_naming_it(tmp_path):
    with pytest.raises(ReplayFormatError, match="nothere.csv: no such file"):
        open_source([tmp_path / "nothere.csv"])


# ---- block reading and merging equal the row-by-row definitions -------------------------------------------------


def agg_lines(rng: random.Random, count: int, bad_every: int, micros: bool) -> list[bytes]:
    lines, agg_id, ts = [], 0, T0
    for i in range(count):
        agg_id += 1
        ts += rng.choice((0, 0, 1, 3, 40))
        if bad_every and i % bad_every == bad_every - 1:
            line = rng.choice(
                [
                    "",
                    "x,1,2",
                    agg_row(agg_id - 1, "1.5", "1", ts, micros=micros),
                    agg_row(agg_id, "1.5", "1", ts - 99, micros=micros),
                    "1,2,3,4,5,6,7,8",
                ]
            )
        else:
            price = rng.choice(("42000", "42000.5", "0.00001234", "1e-05"))
            flag = rng.choice(("true", "false", "True", "False"))
            written = ts * 1000 + rng.randint(0, 999) if micros else ts
            line = f"{agg_id},{price},{rng.randint(0, 10) / 4},{agg_id},{agg_id},{written},{flag}"
        lines.append(line.encode())
    return lines


@pytest.mark.parametrize("micros", [False, True], ids=["ms", "us"])
@pytest.mark.parametrize("bad_every", [0, 7, 97])
def test_reading_by_blocks_gives_the_same_trades_and_bad_rows_as_reading_by_lines(bad_every, micros):
    rng = random.Random(bad_every)
    lines = agg_lines(rng, 3000, bad_every, micros)
    cuts = sorted(rng.sample(range(1, len(lines)), 40))
    blocks = [b"\n".join(lines[a:b]) for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True)]
    window = (T0 + 500, T0 + 40_000)
    line_bad, block_bad = BadRows(), BadRows()
    by_lines = list(read_agg_trades(lines, "X", "f", line_bad, Cursor(), *window))
    blockwise = read_agg_trade_blocks(blocks, "X", "f", block_bad, Cursor(), *window)
    by_blocks = [t for block in blockwise for t in block]
    assert by_blocks == by_lines
    assert all(type(t.price) is float for t in by_blocks)
    assert block_bad.rows == line_bad.rows


def test_merging_by_blocks_equals_a_trade_by_trade_merge_with_ties_to_the_earlier_stream():
    rng = random.Random(11)
    streams = []
    for index in range(6):
        ts, trades = T0, []
        for seq in range(rng.randint(0, 400)):
            ts += rng.choice((0, 0, 0, 1, 2, 50))
            trades.append(Trade(f"S{index}", float(seq), 1.0, ts))
        streams.append(trades)

    def blocks_of(trades: list[Trade]):
        at = 0
        while at < len(trades):
            size = rng.randint(1, 60)
            yield trades[at : at + size]
            at += size

    merged = [t for batch in merge_blocks([whole_times(blocks_of(s)) for s in streams]) for t in batch]
    reference = [
        t for _, _, _, t in sorted((t.ts_ms, i, n, t) for i, s in enumerate(streams) for n, t in enumerate(s))
    ]
    assert merged == reference
