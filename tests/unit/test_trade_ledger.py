"""The trade ledger: totals over every closed trade, a bounded list and equity curve, and its rebuild from the
journal of a real run after a restart."""

from __future__ import annotations

import math

import msgspec

from casino_tui.clock import ManualClock
from casino_tui.config import load_config
from casino_tui.engine.audit import format_entry
from casino_tui.engine.brackets.machine import Bracket
from casino_tui.engine.journal import Journal
from casino_tui.engine.trades import TradeLedger
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.model import BracketState, CloseReason, JournalKind, Side
from casino_tui.paths import StatePaths
from casino_tui.runtime import Runtime

T0 = 1_714_566_896_000
QUICK = {"sensors": {"executor": "inline"}, "player": {"cooldown_s": 0.0}}


def closed(
    seq: int,
    pnl: float,
    fees: float = 0.0,
    *,
    reason: CloseReason = CloseReason.TP,
    entry: float = 100.0,
    filled: bool = True,
) -> Bracket:
    """A CLOSED bracket opened at T0 + seq minutes and closed 30 s later with realised `pnl` and `fees`."""
    return Bracket(
        id=f"B{seq:06d}",
        seq=seq,
        symbol="BTCUSDT",
        side=Side.BUY,
        qty=1.0,
        entry_client_id=f"ct{seq:06d}E0",
        entry_price=entry if filled else 0.0,
        exit_price=entry + pnl if filled else 0.0,
        state=BracketState.CLOSED,
        close_reason=reason,
        opened_ms=T0 + seq * 60_000,
        closed_ms=T0 + seq * 60_000 + 30_000,
        realized_pnl=pnl,
        fees=fees,
    )


def test_totals_count_wins_and_losses_net_of_fees_with_the_win_rate() -> None:
    ledger = TradeLedger()
    for bracket in (closed(1, 10.0, 1.0), closed(2, -4.0, 1.0), closed(3, 0.5, 1.0)):
        ledger.record(bracket)
    totals = ledger.view().totals
    # +9 wins; -5 and -0.5 (a gross gain eaten by its fee) lose.
    assert (totals.trades, totals.wins, totals.losses) == (3, 1, 2)
    assert totals.win_rate is not None and math.isclose(totals.win_rate, 100 / 3)
    assert math.isclose(totals.realized_pnl, 6.5) and math.isclose(totals.fees, 3.0)
    assert math.isclose(totals.net_pnl, 3.5)
    assert totals.profit_factor is not None and math.isclose(totals.profit_factor, 9.0 / 5.5)


def test_profit_factor_is_infinite_with_no_loss_and_unknown_before_any_trade() -> None:
    ledger = TradeLedger()
    assert ledger.view().totals.profit_factor is None
    assert ledger.view().totals.win_rate is None
    ledger.record(closed(1, 10.0, 1.0))
    assert ledger.view().totals.profit_factor == math.inf


def test_an_entry_that_never_filled_made_no_trade() -> None:
    ledger = TradeLedger()
    ledger.record(closed(1, 0.0, reason=CloseReason.REJECTED, filled=False))
    assert ledger.view().totals.trades == 0 and ledger.view().recent == ()
    assert ledger.version == 0


def test_the_list_keeps_the_newest_trades_newest_first_while_the_totals_cover_them_all() -> None:
    ledger = TradeLedger(keep=3)
    for seq in range(1, 11):
        ledger.record(closed(seq, 1.0))
    view = ledger.view()
    assert [t.bracket_id for t in view.recent] == ["B000010", "B000009", "B000008"]
    assert view.totals.trades == 10 and math.isclose(view.totals.realized_pnl, 10.0)


def test_the_equity_curve_is_thinned_but_keeps_its_start_and_its_newest_point() -> None:
    ledger = TradeLedger(max_points=8)
    ledger.anchor(1000.0)
    for seq in range(1, 101):
        ledger.record(closed(seq, 1.0))
    equity = ledger.view().equity
    assert len(equity) <= 8
    assert equity[0] == (T0 + 60_000, 1000.0)  # where the first trade opened, at the start balance
    assert equity[-1] == (T0 + 100 * 60_000 + 30_000, 1100.0)
    assert [ms for ms, _ in equity] == sorted(ms for ms, _ in equity)


def test_max_drawdown_is_the_deepest_fall_of_realised_equity_from_its_peak() -> None:
    ledger = TradeLedger()
    for seq, pnl in enumerate((5.0, -2.0, -4.0, 10.0, -3.0), start=1):
        ledger.record(closed(seq, pnl))
    assert math.isclose(ledger.view().totals.max_drawdown, 6.0)


def test_the_view_is_one_object_until_a_trade_closes() -> None:
    ledger = TradeLedger()
    ledger.record(closed(1, 1.0))
    first = ledger.view()
    assert ledger.view() is first
    ledger.record(closed(2, 1.0))
    assert ledger.view() is not first and ledger.view().version > first.version


def test_the_anchor_puts_the_curve_start_before_the_trades_already_in_the_balance() -> None:
    ledger = TradeLedger()
    ledger.record(closed(1, 30.0, 2.0))
    ledger.anchor(1028.0)  # the wallet after that trade
    view = ledger.view()
    assert view.start_balance == 1000.0
    assert [equity for _, equity in view.equity] == [1000.0, 1028.0]


def test_a_closed_bracket_line_in_the_journal_says_why_at_what_prices_for_what_pnl_and_when(tmp_path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    bracket = closed(7, -12.5, 0.75, reason=CloseReason.SL, entry=66_980.5)
    journal.record_bracket(bracket)
    journal.flush()
    (entry,) = journal.read()
    journal.close()
    line = format_entry(entry)
    for part in (
        "state=CLOSED",
        "reason=SL",
        "entry=66980.5",
        "exit=66968",
        "pnl=-12.5000",
        "fees=0.7500",
        "net=-13.2500",
        "opened=2024-05-01T12:41:56Z",
        "closed=2024-05-01T12:42:26Z",
        "held=0m30s",
    ):
        assert part in line, (part, line)


def test_the_journal_yields_only_closed_bracket_records_in_order_across_pages(tmp_path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    for seq in range(1, 8):
        journal.record_bracket(msgspec.structs.replace(closed(seq, 1.0), state=BracketState.PROTECTED))
        journal.record_bracket(closed(seq, 1.0))
        journal.append(JournalKind.PAUSE, {"paused": False})
    journal.flush()
    refs = [entry.ref for entry in journal.closed_brackets(page=3)]
    journal.close()
    assert refs == [f"B{seq:06d}" for seq in range(1, 8)]


def build(tmp_path) -> Runtime:
    config = load_config(None, QUICK, env={})
    clock = ManualClock()
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    return Runtime(config, exchange=exchange, clock=clock, paths=StatePaths(tmp_path), use_timers=False)


async def test_a_restart_reads_the_closed_trades_of_a_real_run_back_from_the_journal(tmp_path) -> None:
    first = build(tmp_path)
    await first.start()
    await first.advance(4 * 60_000, step_ms=2000)
    assert first.open_position_count > 0, "the seeded sim should open brackets within 4 minutes"
    result = await first.sweep()  # closes every position: each becomes a trade with a price, PnL and fees
    assert result.is_flat
    before = first.trade_history()
    await first.shutdown()
    assert before.totals.trades >= 1 and before.totals.fees > 0
    assert {trade.reason for trade in before.recent} <= {CloseReason.SWEEP, CloseReason.TP, CloseReason.SL}

    second = build(tmp_path)
    await second.start()  # paused by the sweep: nothing new trades
    after = second.trade_history()
    await second.shutdown()
    assert after.totals == before.totals
    assert after.recent == before.recent
    assert after.equity == before.equity
