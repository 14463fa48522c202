"""Ending a bracket: legs the exchange already reported gone are never cancelled again, and a -2011 on a
leg the engine meant to remove anyway is not an error."""

from casino_tui.clock import ManualClock
from casino_tui.model import BracketState, CloseReason, Decision, OrderStatus, Side
from casino_tui.port import OrderNotFoundError, RejectedError
from tests.unit.fakes import FakeExchange, make_croupier, settle

PRICES = {"BTCUSDT": 100.0, "ETHUSDT": 50.0, "SOLUSDT": 20.0}


async def open_protected(fake, croupier, symbols=("BTCUSDT",)):
    brackets = [await croupier.open_bracket(Decision(s, Side.BUY, 0.5, 0), PRICES[s]) for s in symbols]
    await settle(fake, croupier)
    assert all(b is not None and b.state is BracketState.PROTECTED for b in brackets), brackets
    return brackets


async def test_sweep_cancels_each_leg_once_and_closing_does_not_cancel_them_again():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    brackets = await open_protected(fake, croupier, tuple(PRICES))
    legs = {cid for b in brackets for cid in (b.tp_client_id, b.sl_client_id)}

    # The stream events of the cancels stay queued: only the REST answers tell the brackets.
    result = await croupier.sweep()
    await croupier.wait_idle()
    await settle(fake, croupier)

    assert result.is_flat and result.cancelled_orders == 6
    assert sorted(fake.cancel_calls) == sorted(legs), "each leg cancelled exactly once, by the sweep"
    assert all((b.state, b.close_reason) == (BracketState.CLOSED, CloseReason.SWEEP) for b in brackets)
    assert croupier.errors == 0 and croupier.executor.errors == 0


async def test_sibling_reported_expired_before_the_exit_settles_is_not_cancelled():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    (bracket,) = await open_protected(fake, croupier)

    fake.trigger(bracket.tp_client_id)
    # Like Binance's GTE_GTC: the flat position takes the other close-position leg with it.
    fake.cancel_behind_back(bracket.sl_client_id, OrderStatus.EXPIRED)
    await settle(fake, croupier)

    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.TP)
    assert fake.cancel_calls == [], "both legs were already gone"
    assert croupier.errors == 0


async def test_not_found_on_cancelling_the_sibling_is_not_an_error():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    (bracket,) = await open_protected(fake, croupier)
    # The sibling is gone on the exchange, but its event has not arrived when the bracket settles.
    fake.fail_next("cancel", OrderNotFoundError("Unknown order sent.", -2011))

    fake.trigger(bracket.tp_client_id)
    await settle(fake, croupier)

    assert fake.cancel_calls == [bracket.sl_client_id], "one cancel, not retried"
    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.TP)
    assert croupier.errors == 0 and croupier.executor.errors == 0


def test_a_leg_placed_again_under_a_known_client_id_counts_as_live_again():
    fake = FakeExchange(PRICES)
    closer = make_croupier(fake, ManualClock()).oco._closer
    closer.note_leg("ct000001S0abcd", OrderStatus.NEW)
    assert not closer.is_leg_gone("ct000001S0abcd"), "an acknowledged leg is live"
    for status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.FILLED, OrderStatus.TRIGGERED):
        closer.note_leg("ct000001S0abcd", status)
        assert closer.is_leg_gone("ct000001S0abcd"), status
        closer.note_placing("ct000001S0abcd")
        assert not closer.is_leg_gone("ct000001S0abcd"), "a new order under the id may be live"


async def test_a_refused_cancel_of_the_sibling_is_still_an_error_and_keeps_the_bracket():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    (bracket,) = await open_protected(fake, croupier)
    fake.fail_next("cancel", RejectedError("cancel refused", -1000), times=3)

    fake.trigger(bracket.tp_client_id)
    await settle(fake, croupier)

    assert fake.cancel_calls == [bracket.sl_client_id] * 3, "retried, then given up"
    assert bracket.state is BracketState.CLOSING, "the bracket holds its symbol while a leg may be live"
    assert croupier.errors == 1
