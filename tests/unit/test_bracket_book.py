"""BracketBook: the brackets, their client-id routes, the sweep flag, background work and the counters."""

import asyncio

import pytest

from casino_tui.clock import ManualClock
from casino_tui.engine.brackets.book import BracketBook
from casino_tui.engine.brackets.machine import Bracket, Leg
from casino_tui.model import BracketState, CloseReason, Side

S = BracketState


def test_a_new_bracket_holds_its_symbol_and_routes_its_entry_before_anything_is_sent():
    announced: list[tuple[str, BracketState, BracketState]] = []
    book = BracketBook(
        ManualClock(), next_seq=7, on_transition=lambda b, o, n: announced.append((b.id, o, n))
    )

    bracket = book.open("BTCUSDT", Side.BUY, 0.01)

    assert (bracket.id, bracket.seq, book.next_seq) == ("B000007", 7, 8)
    assert book.bracket_for("BTCUSDT") is bracket and book.open_count == 1
    assert book.route(bracket.entry_client_id) == (bracket, Leg.ENTRY)
    assert announced == [("B000007", S.PENDING_ENTRY, S.PENDING_ENTRY)], "journaled before its entry intent"


def test_a_bracket_counts_as_opened_on_its_fill_and_as_closed_when_it_closes_after_one():
    book = BracketBook(ManualClock())
    bracket = book.open("BTCUSDT", Side.BUY, 0.01)
    bracket.entry_price = 100.0

    book.move(bracket, S.OPEN_UNPROTECTED)
    assert (book.brackets_opened, book.brackets_closed) == (1, 0)
    book.move(bracket, S.CLOSING, CloseReason.SL)
    book.move(bracket, S.CLOSED)

    assert (book.brackets_opened, book.brackets_closed) == (1, 1)
    assert book.bracket_for("BTCUSDT") is None and book.closed == (bracket,)


def test_a_rejected_entry_frees_its_symbol_without_counting_as_opened_or_closed():
    book = BracketBook(ManualClock())
    bracket = book.open("BTCUSDT", Side.BUY, 0.01)

    book.move(bracket, S.ENTRY_REJECTED, CloseReason.REJECTED)
    book.move(bracket, S.CLOSED)

    assert (book.brackets_opened, book.brackets_closed, book.open_count) == (0, 0, 0)
    assert bracket.close_reason is CloseReason.REJECTED


def test_an_adopted_position_is_an_open_bracket_without_legs():
    clock = ManualClock()
    book = BracketBook(clock)

    bracket = book.adopt("ETHUSDT", Side.SELL, 0.5, 2_000.0, "adopted by reconcile")

    assert bracket.state is S.OPEN_UNPROTECTED and not (bracket.tp_client_id or bracket.sl_client_id)
    assert (bracket.entry_price, bracket.opened_ms, bracket.note) == (
        2_000.0,
        clock.now_ms(),
        "adopted by reconcile",
    )
    assert book.brackets_opened == 1


def test_adopting_a_symbol_that_already_has_a_bracket_is_refused():
    book = BracketBook(ManualClock())
    book.open("ETHUSDT", Side.BUY, 0.5)

    with pytest.raises(ValueError, match="already has an active bracket"):
        book.adopt("ETHUSDT", Side.SELL, 0.5, 2_000.0, "adopted")


def test_the_closed_history_is_bounded_and_forgets_the_routes_of_what_it_drops():
    book = BracketBook(ManualClock(), max_closed=2)
    brackets = []
    for _ in range(3):
        bracket = book.open("BTCUSDT", Side.BUY, 0.01)
        book.move(bracket, S.ENTRY_REJECTED)
        book.move(bracket, S.CLOSED)
        brackets.append(bracket)

    assert book.closed == tuple(brackets[1:]), "the oldest closed bracket is dropped"
    assert book.route(brackets[0].entry_client_id) is None
    assert book.route(brackets[1].entry_client_id) == (brackets[1], Leg.ENTRY)


def test_forgetting_a_protected_brackets_leg_makes_it_unprotected_with_a_new_generation():
    book = BracketBook(ManualClock())
    bracket = book.adopt("BTCUSDT", Side.BUY, 0.01, 100.0, "")
    bracket.sl_client_id, bracket.tp_client_id, bracket.sl_acked, bracket.tp_acked = "s", "t", True, True
    book.move(bracket, S.PROTECTED)

    book.forget_legs(bracket, [Leg.SL])

    assert bracket.state is S.OPEN_UNPROTECTED
    assert (bracket.sl_client_id, bracket.sl_acked, bracket.sl_generation) == ("", False, 1)
    assert (bracket.tp_client_id, bracket.tp_acked) == ("t", True), "the other leg is untouched"


def test_restore_takes_back_active_brackets_and_continues_after_the_highest_sequence():
    book = BracketBook(ManualClock())
    live = Bracket(
        id="B000041",
        seq=41,
        symbol="BTCUSDT",
        side=Side.BUY,
        qty=0.01,
        entry_client_id="e41",
        sl_client_id="s41",
        state=S.PROTECTED,
    )
    done = Bracket(
        id="B000040", seq=40, symbol="ETHUSDT", side=Side.BUY, qty=0.1, entry_client_id="e40", state=S.CLOSED
    )

    book.restore([live, done])

    assert book.active == (live,) and book.closed == (done,) and book.next_seq == 42
    assert book.route("s41") == (live, Leg.SL)


def test_the_sweep_flag_is_cleared_even_when_the_sweep_fails():
    book = BracketBook(ManualClock())

    with pytest.raises(RuntimeError), book.sweeping():
        assert book.is_sweeping
        raise RuntimeError("the exchange went away")

    assert not book.is_sweeping


async def test_a_failed_background_task_counts_one_error_and_wait_idle_returns():
    book = BracketBook(ManualClock())

    async def fails() -> None:
        raise RuntimeError("boom")

    book.spawn(fails(), "protect-B000001")
    book.spawn(asyncio.sleep(0), "finish-B000002")
    await book.wait_idle()

    assert book.errors == 1
