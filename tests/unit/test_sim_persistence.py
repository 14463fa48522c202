"""The sim's paper account persists: market, account and clock saved in the state dir and restored at start.

Runtime tests use two Runtime instances on one state dir with ManualClocks: the first trades and quits
keeping its positions, the second must find the same positions, TP/SL orders, wallet and prices.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import msgspec
import pytest

from casino_tui.clock import ManualClock, SimClock
from casino_tui.config import DEFAULT_SYMBOLS, SimConfig, load_config
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.exchange.sim.market import MarketState, SimMarket
from casino_tui.exchange.sim.matching import AccountState
from casino_tui.exchange.sim.paper import ACCOUNT, CANDLES, DIRECTORY, PaperStore
from casino_tui.model import BracketState, OrderRequest, OrderType, Side
from casino_tui.paths import StatePaths
from casino_tui.runtime import Runtime, StartupError

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SYMBOLS = list(DEFAULT_SYMBOLS)
QUICK = {"sensors": {"executor": "inline"}, "player": {"cooldown_s": 0.0}}


def build(state_dir: Path, symbols: list[str] | None = None) -> Runtime:
    """A runtime on the seeded sim with a fresh ManualClock at START, as a new process would have."""
    config = load_config(None, {**QUICK, **({"": {"symbols": symbols}} if symbols else {})}, env={})
    clock = ManualClock(START)
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    return Runtime(config, exchange=exchange, clock=clock, paths=StatePaths(state_dir), use_timers=False)


async def run_until_protected(runtime: Runtime, minutes: int = 20) -> None:
    """Advance until at least one bracket is PROTECTED (the seeded sim gets there within a few minutes)."""
    for _ in range(minutes * 30):
        await runtime.advance(2000, step_ms=2000)
        if any(b.state is BracketState.PROTECTED for b in runtime.croupier.brackets):
            return
    raise AssertionError(f"no bracket was PROTECTED within {minutes} simulated minutes")


def sim_of(runtime: Runtime) -> SimExchange:
    assert isinstance(runtime.exchange, SimExchange)
    return runtime.exchange


def paper_dir(state_dir: Path) -> Path:
    return state_dir / DIRECTORY


async def exchange_view(runtime: Runtime) -> dict:
    """What the exchange holds: positions, open orders (ids, triggers), wallet and unrealized PnL."""
    exchange = runtime.exchange
    balance = await exchange.balance()
    return {
        "positions": sorted((p.symbol, p.qty, p.entry_price) for p in await exchange.positions()),
        "orders": sorted(
            (o.symbol, o.client_id, o.order_id, o.type, o.trigger_price, o.close_position)
            for o in await exchange.open_orders()
        ),
        "wallet": balance.wallet,
        "unrealized": balance.unrealized_pnl,
    }


# -- the market and the account on their own -------------------------------------------------------------


@pytest.mark.parametrize("offset_ms", [0, 59_999, 61_234, 3 * 3_600_000 + 17])
def test_a_resumed_market_emits_exactly_the_trades_the_original_would_have(offset_ms: int) -> None:
    original = SimMarket(SYMBOLS, 7, START + 12_345)
    original.advance(START + offset_ms)
    state = msgspec.json.decode(msgspec.json.encode(original.state()), type=MarketState)
    resumed = SimMarket.resume(state, original.candle_rows(0, max(state.minute, 0)))
    assert resumed.mark_prices() == original.mark_prices()
    assert resumed.last_prices() == original.last_prices()
    later = START + offset_ms + 5 * 60_000 + 333
    expected = original.advance(later)
    assert expected, "five simulated minutes should hold trades"
    assert resumed.advance(later) == expected


def test_a_resumed_market_serves_the_same_candle_history() -> None:
    original = SimMarket(SYMBOLS, 7, START)
    original.advance(START + 2 * 3_600_000 + 30_000)
    state = original.state()
    resumed = SimMarket.resume(state, original.candle_rows(0, state.minute))
    for timeframe in ("1m", "5m", "1h"):
        assert resumed.klines("ETHUSDT", timeframe, 300) == original.klines("ETHUSDT", timeframe, 300)


def test_a_market_saved_before_its_first_live_minute_resumes_as_new() -> None:
    original = SimMarket(SYMBOLS, 7, START)  # starts on a minute boundary: nothing generated yet
    state = original.state()
    assert state.minute == -1
    assert SimMarket.resume(state, b"").advance(START + 90_000) == original.advance(START + 90_000)


def test_resuming_with_candles_of_the_wrong_size_is_refused() -> None:
    original = SimMarket(SYMBOLS, 7, START)
    original.advance(START + 10 * 60_000)
    state = original.state()
    with pytest.raises(ValueError, match="bytes of candles"):
        SimMarket.resume(state, original.candle_rows(0, state.minute - 1))


async def test_an_account_restored_holds_the_wallet_positions_pnl_and_open_orders() -> None:
    original = SimExchange(SimConfig(seed=7), ["BTCUSDT"], ManualClock(START), autorun=False)
    original.pump(START + 60_000)
    price = original.market.last_price("BTCUSDT")
    await original.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 0.01, "entry-1"))
    original.pump(START + 120_000)
    await original.place_order(
        OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, 0.004, "part-1", reduce_only=True)
    )
    stop = OrderRequest(
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        0.0,
        "sl-1",
        close_position=True,
        trigger_price=round(price * 0.98, 1),
    )
    await original.place_order(stop)
    saved = msgspec.json.decode(msgspec.json.encode(original.matching.account_state()), type=AccountState)

    copy = SimExchange(SimConfig(seed=7), ["BTCUSDT"], ManualClock(START), autorun=False)
    copy.matching.restore_account(saved)
    assert copy.matching.account_state() == original.matching.account_state()
    assert copy.matching.realized_pnl != 0.0 and copy.matching.fees > 0.0
    assert saved.positions == {"BTCUSDT": (0.006, original.matching.positions()[0].entry_price)}
    assert [o.client_id for o in await copy.open_orders()] == ["sl-1"]
    assert (await copy.get_order("BTCUSDT", "entry-1", False)).status == "FILLED"
    later = await copy.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 0.002, "entry-2"))
    assert int(later.order_id) > max(int(o.order_id) for o in saved.finished), "order ids never repeat"


def test_an_account_in_symbols_the_sim_does_not_list_is_refused_and_nothing_changes() -> None:
    exchange = SimExchange(SimConfig(), ["BTCUSDT"], ManualClock(START), autorun=False)
    before = exchange.matching.account_state()
    foreign = msgspec.structs.replace(before, wallet=5.0, positions={"DOGEUSDT": (100.0, 0.3)})
    with pytest.raises(ValueError, match="DOGEUSDT"):
        exchange.matching.restore_account(foreign)
    assert exchange.matching.account_state() == before


# -- the runtime: keep, restart, carry on ----------------------------------------------------------------


async def test_kept_positions_and_their_tp_sl_orders_are_on_the_sim_after_a_restart(tmp_path: Path) -> None:
    first = build(tmp_path)
    await first.start()
    await run_until_protected(first)
    before = await exchange_view(first)
    brackets = {b.id: (b.state, b.tp_client_id, b.sl_client_id) for b in first.croupier.book.active}
    await first.shutdown()  # on_shutdown = "keep"

    second = build(tmp_path)
    await second.start()
    assert await exchange_view(second) == before
    assert before["positions"] and len(before["orders"]) >= 2 * len(before["positions"])
    assert {b.id: (b.state, b.tp_client_id, b.sl_client_id) for b in second.croupier.book.active} == brackets
    assert not (await second.reconcile()).items, "the restored sim should match the restored brackets"
    await second.shutdown()


def report_of(runtime: Runtime) -> dict:
    assert runtime.report_path is not None
    return msgspec.json.decode(runtime.report_path.read_bytes())


async def test_equity_and_the_sim_clock_continue_across_a_restart(tmp_path: Path) -> None:
    first = build(tmp_path)
    await first.start()
    await run_until_protected(first)
    first.tick()
    equity = first.snapshot().header.equity
    stopped_at = first.clock.now_ms()
    prices = sim_of(first).market.last_prices()
    await first.shutdown()
    ended = report_of(first)
    assert ended["end_balance"] < 10_000.0, "the entries' fees should have moved the wallet"

    second = build(tmp_path)
    await second.start()
    assert second.clock.now_ms() == stopped_at
    assert sim_of(second).market.last_prices() == prices
    second.tick()
    # Positions are valued at the last trade before the stop, and after the restart at the last closed
    # candle until the next trade: a few cents apart. A fresh sim would be 10,000 plus nothing.
    assert second.snapshot().header.equity == pytest.approx(equity, abs=0.05)
    await second.shutdown()
    assert report_of(second)["start_balance"] == ended["end_balance"]


async def test_prices_after_a_restart_are_the_ones_the_first_run_would_have_seen(tmp_path: Path) -> None:
    first = build(tmp_path)
    await first.start()
    await first.advance(3 * 60_000, step_ms=2000)
    await first.shutdown()
    state = sim_of(first).market.state()
    reference = SimMarket.resume(state, sim_of(first).market.candle_rows(0, state.minute))

    second = build(tmp_path)
    await second.start()
    market = sim_of(second).market
    end = second.clock.now_ms() + 5 * 60_000
    assert market.advance(end) == reference.advance(end)
    await second.shutdown()


def keep_last_save(state_dir: Path) -> Path:
    """Copy what the periodic save just wrote (engine snapshot and paper account)."""
    copy = state_dir.parent / f"{state_dir.name}-at-last-save"
    for name in ("snapshots", DIRECTORY):
        shutil.copytree(state_dir / name, copy / name)
    return copy


def crash_back_to(state_dir: Path, last_save: Path) -> None:
    """What a SIGKILL leaves: the last periodic saves, and the journal with everything after them."""
    for name in ("snapshots", DIRECTORY):
        shutil.rmtree(state_dir / name)
        shutil.copytree(last_save / name, state_dir / name)


async def assert_every_position_is_managed_and_protected(runtime: Runtime) -> None:
    sim = sim_of(runtime)
    positions = {p.symbol: p for p in await sim.positions()}
    orders = {o.client_id for o in await sim.open_orders()}
    active = {b.symbol: b for b in runtime.croupier.book.active}
    assert active.keys() == positions.keys(), "every position managed, no bracket without a position"
    for symbol, bracket in active.items():
        assert bracket.state is BracketState.PROTECTED, f"{symbol}: {bracket.state}"
        assert {bracket.sl_client_id, bracket.tp_client_id} <= orders, f"{symbol} lacks a leg on the sim"
        assert abs(bracket.qty - abs(positions[symbol].qty)) < 1e-9
    legs = {cid for b in active.values() for cid in (b.sl_client_id, b.tp_client_id)}
    assert orders == legs, "orders no bracket owns should have been cancelled"
    assert not (await runtime.reconcile()).items


async def test_brackets_opened_after_the_last_save_are_closed_when_a_crash_lost_them(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = build(state_dir)
    await first.start()
    await run_until_protected(first)
    first.save_state()  # what the 5 s snapshot loop writes
    saved = await exchange_view(first)
    last_save = keep_last_save(state_dir)
    opened = first.croupier.brackets_opened
    for _ in range(600):  # trade on until the journal holds a bracket the save does not
        await first.advance(2000, step_ms=2000)
        if first.croupier.brackets_opened > opened:
            break
    else:
        raise AssertionError("no bracket opened after the save")
    await first.shutdown()
    crash_back_to(state_dir, last_save)

    second = build(state_dir)
    await second.start()
    assert await exchange_view(second) == saved, "the sim is back where it was saved"
    await assert_every_position_is_managed_and_protected(second)
    lost = [b for b in second.croupier.book.closed if b.seq > opened]
    assert lost and all(b.realized_pnl == 0.0 for b in lost), "never on the restored sim: closed at 0"
    await second.shutdown()


async def test_a_sweep_a_crash_undid_leaves_its_positions_adopted_and_protected(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = build(state_dir)
    await first.start()
    await run_until_protected(first)
    first.save_state()
    saved = await exchange_view(first)
    last_save = keep_last_save(state_dir)
    assert (await first.sweep()).is_flat
    await first.shutdown()
    crash_back_to(state_dir, last_save)

    second = build(state_dir)
    await second.start()
    assert second.is_paused, "the sweep's pause was journaled before the crash"
    assert sorted(p[0] for p in (await exchange_view(second))["positions"]) == sorted(
        p[0] for p in saved["positions"]
    )
    await assert_every_position_is_managed_and_protected(second)
    await second.shutdown()


# -- bad or unfitting saves ------------------------------------------------------------------------------


async def saved_paper_account(state_dir: Path) -> None:
    first = build(state_dir)
    await first.start()
    await first.advance(2 * 60_000, step_ms=2000)
    await first.shutdown()


async def test_a_corrupt_paper_account_gives_a_fresh_sim_and_is_kept_aside(tmp_path: Path, caplog) -> None:
    await saved_paper_account(tmp_path)
    account = paper_dir(tmp_path) / ACCOUNT
    account.write_bytes(b'{"version": 1, "sim": {"clock_ms": 17, "mar')
    caplog.set_level(logging.INFO, logger="casino.sim.paper")

    second = build(tmp_path)
    await second.start()
    assert sim_of(second).matching.wallet == 10_000.0
    assert await second.exchange.positions() == []
    assert second.clock.now_ms() < START + 60_000, "a fresh sim starts at its own clock"
    aside = list(paper_dir(tmp_path).glob(f"{ACCOUNT}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().endswith(b'"mar')
    assert len(list(paper_dir(tmp_path).glob(f"{CANDLES}.corrupt-*"))) == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "casino.sim.paper"]
    assert len(lines) == 1 and "fresh sim" in lines[0] and aside[0].name in lines[0]
    await second.shutdown()


async def test_a_paper_account_whose_candles_are_missing_gives_a_fresh_sim(tmp_path: Path) -> None:
    await saved_paper_account(tmp_path)
    (paper_dir(tmp_path) / CANDLES).write_bytes(b"\0" * 100)

    second = build(tmp_path)
    await second.start()
    assert sim_of(second).matching.wallet == 10_000.0
    assert len(list(paper_dir(tmp_path).glob(f"{ACCOUNT}.corrupt-*"))) == 1
    await second.shutdown()


async def test_a_paper_account_of_other_symbols_is_set_aside_not_restored(tmp_path: Path, caplog) -> None:
    await saved_paper_account(tmp_path)
    caplog.set_level(logging.INFO, logger="casino.sim.paper")

    second = build(tmp_path, symbols=["BTCUSDT", "ETHUSDT"])
    await second.start()
    assert sim_of(second).matching.wallet == 10_000.0
    assert len(list(paper_dir(tmp_path).glob(f"{ACCOUNT}.unused-*"))) == 1
    assert any("not for this sim" in r.getMessage() for r in caplog.records)
    await second.shutdown()


async def test_no_saved_paper_account_gives_a_fresh_sim_and_one_line(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="casino.sim.paper")
    runtime = build(tmp_path)
    await runtime.start()
    assert sim_of(runtime).matching.wallet == 10_000.0
    lines = [r.getMessage() for r in caplog.records if r.name == "casino.sim.paper"]
    assert len(lines) == 1 and "no saved paper account" in lines[0]
    await runtime.shutdown()
    assert (paper_dir(tmp_path) / ACCOUNT).exists()


async def test_an_unreadable_paper_account_stops_the_start_and_changes_nothing(tmp_path: Path) -> None:
    account = paper_dir(tmp_path) / ACCOUNT
    account.mkdir(parents=True)  # reading it fails with an I/O error, not "missing" or "corrupt"
    runtime = build(tmp_path)
    with pytest.raises(StartupError, match="cannot read the paper account"):
        await runtime.start()
    await runtime.shutdown()
    assert account.is_dir() and sorted(p.name for p in paper_dir(tmp_path).iterdir()) == [ACCOUNT]


async def test_a_failed_save_keeps_the_previous_paper_account_and_the_next_one_catches_up(
    tmp_path: Path, caplog
) -> None:
    runtime = build(tmp_path)
    await runtime.start()
    await runtime.advance(2 * 60_000, step_ms=2000)
    runtime.save_state()
    before = (paper_dir(tmp_path) / ACCOUNT).read_bytes()
    candles, kept = paper_dir(tmp_path) / CANDLES, tmp_path / "candles-kept"
    candles.rename(kept)
    candles.mkdir()  # the next candle rows cannot be written
    await runtime.advance(2 * 60_000, step_ms=2000)
    runtime.save_state()
    assert (paper_dir(tmp_path) / ACCOUNT).read_bytes() == before
    assert any("paper account not saved" in r.getMessage() for r in caplog.records)
    assert runtime.snapshot().counters.errors >= 1
    candles.rmdir()
    kept.rename(candles)  # the disk is back
    await runtime.advance(60_000, step_ms=2000)
    stopped_at = runtime.clock.now_ms()
    await runtime.shutdown()

    second = build(tmp_path)
    await second.start()
    assert second.clock.now_ms() == stopped_at
    state = sim_of(second).market.state()
    assert sim_of(second).market.candle_rows(0, state.minute) == sim_of(runtime).market.candle_rows(
        0, state.minute
    )
    await second.shutdown()


async def test_a_runtime_building_its_own_sim_starts_its_clock_at_the_saved_time(tmp_path: Path) -> None:
    first = build(tmp_path)  # saved on 2026-01-01, long before the wall clock of most test runs
    await first.start()
    await run_until_protected(first)
    await first.shutdown()
    saved_at = first.clock.now_ms()
    kept = await exchange_view(first)

    config = load_config(None, {**QUICK, "sim": {"speed": 1.0}}, env={})
    second = Runtime(config, paths=StatePaths(tmp_path), use_timers=False)
    assert isinstance(second.clock, SimClock)
    assert saved_at <= second.clock.now_ms() < saved_at + 60_000, "no jump to the wall clock"
    await second.start()
    assert (await exchange_view(second))["positions"] == kept["positions"]
    await second.shutdown()


def test_a_sim_clock_resumes_at_the_saved_time(tmp_path: Path) -> None:
    hour_later = ManualClock(START + 3_600_000)
    saved = SimExchange(SimConfig(), ["BTCUSDT"], hour_later, autorun=False)
    saved.pump()
    store = PaperStore.for_exchange(saved, hour_later, tmp_path)
    assert store is not None
    store.save()

    clock = SimClock(START, speed=30.0)
    exchange = SimExchange(SimConfig(), ["BTCUSDT"], clock, autorun=False)
    restored = PaperStore.for_exchange(exchange, clock, tmp_path)
    assert restored is not None and restored.restore()
    assert START + 3_600_000 <= clock.now_ms() < START + 3_700_000
    assert exchange.market.last_prices() == saved.market.last_prices()
