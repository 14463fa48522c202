"""Emergency sweep: cancel every order, close every position (≤5 at once), verify flat, report leftovers."""

import asyncio

import pytest

from casino_tui.clock import ManualClock
from casino_tui.engine.brackets import BracketState, CloseReason
from casino_tui.model import Decision, OrderRequest, OrderType, Side
from casino_tui.port import RetriableError
from tests.unit.fakes import FakeExchange, make_croupier, settle

PRICES = {"BTCUSDT": 100.0, "ETHUSDT": 50.0, "SOLUSDT": 20.0, "XRPUSDT": 2.0}


def decide(symbol: str, side: Side = Side.BUY) -> Decision:
    return Decision(symbol=symbol, side=side, score=0.5, ts_ms=0)


async def open_three(fake, croupier):
    brackets = [
        await croupier.open_bracket(decide("BTCUSDT"), 100.0),
        await croupier.open_bracket(decide("ETHUSDT", Side.SELL), 50.0),
        await croupier.open_bracket(decide("SOLUSDT"), 20.0),
    ]
    await settle(fake, croupier)
    assert all(b.state is BracketState.PROTECTED for b in brackets)
    return brackets


async def test_sweep_closes_every_position_cancels_every_order_and_verifies_flat():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    brackets = await open_three(fake, croupier)
    # A position the croupier does not know about (opened by hand on the exchange) is swept too.
    await fake.place_order(OrderRequest("XRPUSDT", Side.BUY, OrderType.MARKET, 10.0, "manual-1"))

    result = await croupier.sweep()
    await settle(fake, croupier)

    assert result.is_flat and result.remaining_positions == ()
    assert (result.cancelled_orders, result.closed_positions) == (6, 4)
    assert await fake.positions() == [] and await fake.open_orders() == []
    assert all((b.state, b.close_reason) == (BracketState.CLOSED, CloseReason.SWEEP) for b in brackets)
    assert croupier.open_count == 0
    closes = [r for r in fake.placed if r.reduce_only]
    assert {r.symbol for r in closes} == set(PRICES) and all(r.type is OrderType.MARKET for r in closes)
    assert result.message.startswith("flat")


async def test_sweep_reports_leftovers_when_the_exchange_refuses_a_close():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    brackets = {b.symbol: b for b in await open_three(fake, croupier)}
    fake.refuse_reduce_only = {"ETHUSDT"}

    result = await croupier.sweep()
    await settle(fake, croupier)

    assert not result.is_flat and result.remaining_positions == ("ETHUSDT",)
    assert result.closed_positions == 2 and "ETHUSDT" in result.message
    retried = [r for r in fake.placed if r.reduce_only and r.symbol == "ETHUSDT"]
    assert retried == [], "the refused closes never reached the book"
    assert fake.position_qty["ETHUSDT"] != 0 and fake.position_qty["BTCUSDT"] == 0
    assert brackets["ETHUSDT"].state is BracketState.CLOSING, (
        "the bracket stays visible while its position lives"
    )
    assert brackets["BTCUSDT"].state is BracketState.CLOSED

    # The operator retries once the exchange accepts it again: the leftover goes.
    fake.refuse_reduce_only = set()
    again = await croupier.sweep()
    await settle(fake, croupier)
    assert again.is_flat and brackets["ETHUSDT"].state is BracketState.CLOSED


async def test_sweep_closes_at_most_five_positions_at_once():
    symbols = {f"S{i}USDT": 10.0 + i for i in range(9)}
    in_flight = peak = 0

    class SlowFake(FakeExchange):
        async def place_order(self, request):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                for _ in range(5):  # yield so the other closes can start if the sweep lets them
                    await asyncio.sleep(0)
                return await super().place_order(request)
            finally:
                in_flight -= 1

    fake = SlowFake(symbols)
    croupier = make_croupier(fake, ManualClock())
    for i, symbol in enumerate(symbols):
        await fake.place_order(OrderRequest(symbol, Side.BUY, OrderType.MARKET, 1.0, f"manual-{i}"))
    peak = 0

    result = await croupier.sweep()

    assert result.is_flat and result.closed_positions == 9
    assert 1 < peak <= 5, f"{peak} closes were in flight at once"


async def test_sweep_survives_a_transient_error_on_the_position_query():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    await open_three(fake, croupier)
    calls = 0
    original = fake.positions

    async def flaky_positions():
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RetriableError("Service Unavailable")
        return await original()

    fake.positions = flaky_positions  # type: ignore[method-assign]
    result = await croupier.sweep()
    assert result.is_flat and calls >= 3


async def test_no_new_brackets_open_while_sweeping():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    await open_three(fake, croupier)
    sweep = asyncio.create_task(croupier.sweep())
    await asyncio.sleep(0)
    assert await croupier.open_bracket(decide("XRPUSDT"), 2.0) is None
    assert (await sweep).is_flat


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_sweep_close_orders_reduce_the_position(side):
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    await croupier.open_bracket(decide("BTCUSDT", side), 100.0)
    await settle(fake, croupier)
    await croupier.sweep()
    (close,) = [r for r in fake.placed if r.reduce_only]
    assert close.side is side.opposite and close.quantity == pytest.approx(2.0)
