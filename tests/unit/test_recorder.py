"""The recorder: the market stream a run ingests, written compactly, read back exactly by a replay."""

from __future__ import annotations

import gzip
import random

import msgspec

from casino_tui.cli import build_parser, overrides_from_args
from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.exchange.replay.errors import BadRows
from casino_tui.exchange.replay.recorder import (
    MarketRecorder,
    MarkPriceTick,
    RecordingSink,
    is_recording,
    read_header,
    read_recording,
)
from casino_tui.exchange.replay.sources import open_source
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.model import SymbolRules, Trade
from casino_tui.runtime import Runtime

T0 = 1_767_225_600_000
EVERYTHING = (-(2**62), 2**62)
RULES = {
    "BTCUSDT": SymbolRules("BTCUSDT", "0.1", "0.001", "0.001", "1000", "100"),
    "PEPEUSDT": SymbolRules("PEPEUSDT", "0.0000001", "1", "1", "1000000000", "5"),
}


class Sink:
    """A MarketSink that keeps what reaches it, as the engine would see it."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.statuses: list[tuple[str, bool, str]] = []

    def on_trade(self, trade: Trade) -> None:
        self.events.append(trade)

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.events.append(MarkPriceTick(symbol, price, ts_ms))

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        self.statuses.append((stream, connected, reason))


def market_stream(n: int, seed: int = 5) -> list[Trade | MarkPriceTick]:
    """Trades with awkward floats (tiny prices, float noise, a timestamp going back) and mark prices."""
    rng = random.Random(seed)
    events: list[Trade | MarkPriceTick] = []
    ts = T0
    for i in range(n):
        ts += rng.choice((0, 0, 1, 7, 250, -3))
        if i % 10 == 9:
            events.append(MarkPriceTick("BTCUSDT", 42000.0 + rng.random(), ts))
        elif i % 2:
            events.append(
                Trade("PEPEUSDT", 0.00001234 + rng.random() * 1e-8, rng.random() * 1e6, ts, bool(i % 3))
            )
        else:
            events.append(Trade("BTCUSDT", 0.1 + 0.2 + 42000 * rng.random(), rng.random(), ts, bool(i % 4)))
    return events


def record(path, events, **kwargs) -> Sink:
    engine = Sink()
    recorder = MarketRecorder(path, exchange="sim", symbols=["BTCUSDT", "PEPEUSDT"], rules=RULES, **kwargs)
    sink = RecordingSink(engine, recorder)
    for event in events:
        if type(event) is Trade:
            sink.on_trade(event)
        else:
            sink.on_mark_price(event.symbol, event.price, event.ts_ms)
    recorder.close()
    return engine


def test_a_recording_reads_back_every_event_exactly_in_recorded_order(tmp_path):
    events = market_stream(10_000)
    path = tmp_path / "market.rec"
    record(path, events)
    assert list(read_recording(path, BadRows(), *EVERYTHING)) == events


def test_a_replay_of_a_recording_gives_back_the_recorded_trades(tmp_path):
    events = market_stream(5000)
    path = tmp_path / "market.rec"
    record(path, events)
    source = open_source([path])
    assert list(source.trades()) == [e for e in events if type(e) is Trade]
    assert list(source.events()) == events
    assert source.symbols == ["BTCUSDT", "PEPEUSDT"]
    assert source.interval_ms == {"BTCUSDT": None, "PEPEUSDT": None}
    assert source.bad_row_count == 0


def test_the_recorded_exchange_rules_become_the_replays_rules(tmp_path):
    path = tmp_path / "market.rec"
    record(path, market_stream(100))
    assert open_source([path]).rules == RULES
    assert open_source([path], tick_size=0.5).rules["BTCUSDT"].tick_size == "0.5"


def test_the_recording_sink_hands_every_event_on_unchanged(tmp_path):
    events = market_stream(300)
    engine = record(tmp_path / "market.rec", events)
    assert engine.events == events


def test_stream_status_reaches_the_engine_and_is_not_recorded(tmp_path):
    engine = Sink()
    recorder = MarketRecorder(tmp_path / "market.rec", symbols=["BTCUSDT"])
    RecordingSink(engine, recorder).on_stream_status("market", False, "reset")
    recorder.close()
    assert engine.statuses == [("market", False, "reset")]
    assert recorder.events_written == 0


def test_the_same_stream_gives_a_byte_identical_recording(tmp_path):
    events = market_stream(2000)
    record(tmp_path / "a.rec", events)
    record(tmp_path / "b.rec", events)
    assert (tmp_path / "a.rec").read_bytes() == (tmp_path / "b.rec").read_bytes()


def test_a_recording_is_compact(tmp_path):
    events = market_stream(20_000)
    path = tmp_path / "market.rec"
    record(path, events)
    as_json = len(msgspec.json.encode(events))
    assert path.stat().st_size < as_json / 4


def test_the_recorder_writes_each_full_batch_through_to_the_file(tmp_path):
    path = tmp_path / "market.rec"
    recorder = MarketRecorder(path, symbols=["BTCUSDT"], batch_events=100)
    for i in range(250):
        recorder.record_trade(Trade("BTCUSDT", 100.0, 1.0, T0 + i, False))
    # Before close: two whole batches are on disk (sync-flushed), the last 50 wait in memory.
    assert recorder.events_written == 200
    assert len(list(read_recording(path, BadRows(), *EVERYTHING))) == 200
    recorder.close()
    assert len(list(read_recording(path, BadRows(), *EVERYTHING))) == 250


def test_a_quiet_market_reaches_the_disk_within_a_second_of_data_time(tmp_path):
    path = tmp_path / "market.rec"
    recorder = MarketRecorder(path, symbols=["BTCUSDT"])
    recorder.record_trade(Trade("BTCUSDT", 100.0, 1.0, T0, False))
    recorder.record_trade(Trade("BTCUSDT", 101.0, 1.0, T0 + 1000, False))
    assert recorder.events_written == 2
    recorder.close()


def test_a_recording_cut_short_reads_back_to_its_last_whole_batch(tmp_path):
    path = tmp_path / "market.rec"
    events = market_stream(1000)
    record(path, events, batch_events=100)
    whole = path.read_bytes()
    # A crash mid-write: the end of the gzip stream (and part of the last batch) never reached the disk.
    path.write_bytes(whole[: len(whole) - 300])
    bad = BadRows()
    read = list(read_recording(path, bad, *EVERYTHING))
    assert read == events[: len(read)]
    assert 800 <= len(read) < 1000
    assert bad.count == 1 and "ends early" in bad.rows[0].reason


def test_the_header_names_the_exchange_symbols_and_rules(tmp_path):
    path = tmp_path / "market.rec"
    record(path, market_stream(10))
    header = read_header(path)
    assert (header.exchange, header.symbols, header.rules) == (
        "sim",
        ["BTCUSDT", "PEPEUSDT"],
        list(RULES.values()),
    )


def test_a_gzip_file_that_is_not_a_recording_is_not_taken_for_one(tmp_path):
    path = tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv"
    with gzip.open(path, "wb") as out:
        out.write(b"1,2,3\n")
    assert not is_recording(path)


async def test_record_on_a_sim_run_captures_the_trades_the_engine_ingested(tmp_path):
    path = tmp_path / "session.rec"
    config = load_config(None, {"sensors": {"executor": "inline"}, "runtime": {"record": str(path)}}, env={})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    runtime = Runtime(config, exchange=exchange, clock=clock, use_timers=False)
    await runtime.start()
    await runtime.advance(30_000, step_ms=1000)
    ingested = runtime.stats.total_ticks
    await runtime.shutdown()
    source = open_source([path])
    replayed = list(source.trades())
    assert replayed, "the sim traded for 30 s"
    assert source.symbols == sorted(config.symbols)
    assert source.rules == runtime.rules
    assert len(replayed) == ingested


def test_the_record_flag_names_the_runtimes_recording_file(tmp_path):
    args = build_parser().parse_args(["--record", str(tmp_path / "x.rec")])
    config = load_config(None, overrides_from_args(args), env={})
    assert config.runtime.record == str(tmp_path / "x.rec")
    assert load_config(None, {}, env={}).runtime.record == ""


def test_a_gzipped_csv_is_told_from_a_recording_without_reading_it_whole(tmp_path):
    path = tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv.gz"
    rows = "".join(f"{i},42000.{i % 10},0.5,{i},{i},{T0 + i},true\n" for i in range(1, 20_000))
    path.write_bytes(gzip.compress(rows.encode()))
    assert not is_recording(path)  # its first bytes, read as a frame length, claim ~800 MB
    assert len(list(open_source([path]).trades())) == 19_999
