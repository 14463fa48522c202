"""Emergency sweep: cancel every order, close every position (≤5 at once), verify flat, report leftovers."""

import asyncio

import pytest

from casino_tui.clock import ManualClock
from casino_tui.model import BracketState, CloseReason, Decision, OrderRequest, OrderStatus, OrderType, Side
from casino_tui.port import BreakerOpenError, RetriableError
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
    assert result.reasons == ("ETHUSDT: close rejected: ReduceOnly Order is rejected.",)
    retried = [r for r in fake.placed if r.reduce_only and r.symbol == "ETHUSDT"]
    assert retried == [], "the refused closes never reached the book"
    assert fake.position_qty["ETHUSDT"] != 0 and fake.position_qty["BTCUSDT"] == 0
    eth = brackets["ETHUSDT"]
    assert eth.state is BracketState.PROTECTED, "nothing the exchange did moved the bracket"
    assert {o.request.client_id for o in fake.open_conditional("ETHUSDT")} == {
        eth.tp_client_id,
        eth.sl_client_id,
    }
    assert brackets["BTCUSDT"].state is BracketState.CLOSED

    # The operator retries once the exchange accepts it again: the leftover goes.
    fake.refuse_reduce_only = set()
    again = await croupier.sweep()
    await settle(fake, croupier)
    assert again.is_flat and eth.state is BracketState.CLOSED
    assert await fake.open_orders() == []


async def test_sweep_retries_a_close_that_failed_once_and_succeeds_in_a_later_round():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    brackets = {b.symbol: b for b in await open_three(fake, croupier)}
    is_eth_close = lambda r: r.reduce_only and r.symbol == "ETHUSDT"  # noqa: E731
    fake.fail_next("place", BreakerOpenError("orders breaker OPEN"), match=is_eth_close)
    attempts = []
    original = fake.place_order

    async def counting_place(request):
        if is_eth_close(request):
            attempts.append(request.client_id)
        return await original(request)

    fake.place_order = counting_place  # type: ignore[method-assign]
    result = await croupier.sweep()
    await settle(fake, croupier)

    assert result.is_flat and result.reasons == (), result.message
    assert len(attempts) == 2 and attempts[0] != attempts[1], "a second round sent a new close"
    assert (brackets["ETHUSDT"].state, brackets["ETHUSDT"].close_reason) == (
        BracketState.CLOSED,
        CloseReason.SWEEP,
    )
    assert await fake.positions() == [] and await fake.open_orders() == []


async def test_sweep_closes_a_position_that_appears_after_the_first_read():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    await open_three(fake, croupier)
    reads = 0
    original = fake.positions

    async def positions_then_a_late_fill():
        nonlocal reads
        reads += 1
        answer = await original()
        if reads == 1:
            # Someone's order fills on the exchange just after the sweep's first read.
            await fake.place_order(OrderRequest("XRPUSDT", Side.BUY, OrderType.MARKET, 10.0, "late-1"))
        return answer

    fake.positions = positions_then_a_late_fill  # type: ignore[method-assign]
    result = await croupier.sweep()
    await settle(fake, croupier)

    assert result.is_flat and result.closed_positions == 4, result.message
    assert fake.position_qty["XRPUSDT"] == 0
    (late_close,) = [r for r in fake.placed if r.reduce_only and r.symbol == "XRPUSDT"]
    assert late_close.side is Side.SELL and late_close.quantity == pytest.approx(10.0)


async def test_a_close_that_cannot_reach_the_exchange_leaves_the_bracket_protected_and_says_why():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    brackets = {b.symbol: b for b in await open_three(fake, croupier)}
    eth = brackets["ETHUSDT"]
    fake.fail_next(
        "place",
        BreakerOpenError("orders breaker OPEN"),
        match=lambda r: r.reduce_only and r.symbol == "ETHUSDT",
        times=1000,
    )

    result = await croupier.sweep()
    await settle(fake, croupier)

    assert not result.is_flat and result.remaining_positions == ("ETHUSDT",)
    assert result.reasons == ("ETHUSDT: close did not reach the exchange: orders breaker OPEN",)
    assert "orders breaker OPEN" in result.message
    assert eth.state is BracketState.PROTECTED and eth.is_protected
    stops = {o.request.client_id for o in fake.open_conditional("ETHUSDT")}
    assert stops == {eth.tp_client_id, eth.sl_client_id}, "the position keeps its stop and take-profit"


async def test_a_sweep_that_cannot_read_the_exchange_changes_nothing_and_says_so():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    brackets = await open_three(fake, croupier)

    async def down():
        raise BreakerOpenError("account breaker OPEN")

    fake.positions = down  # type: ignore[method-assign]
    placed_before = len(fake.placed)
    result = await croupier.sweep()

    assert not result.is_flat and "not verified" in result.message
    assert result.remaining_positions == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    assert result.reasons[-1] == "the exchange could not be read: account breaker OPEN"
    assert len(fake.placed) == placed_before and fake.cancel_calls == []
    assert all(b.state is BracketState.PROTECTED for b in brackets)


async def test_a_stop_the_exchange_drops_during_a_failed_sweep_is_put_back_when_it_ends():
    fake = FakeExchange(PRICES)
    croupier = make_croupier(fake, ManualClock())
    eth = {b.symbol: b for b in await open_three(fake, croupier)}["ETHUSDT"]
    dropped = eth.sl_client_id
    original = fake.place_order

    async def closes_fail_and_the_stop_expires(request):
        if request.reduce_only and request.symbol == "ETHUSDT":
            if fake.orders[dropped].status is OrderStatus.NEW:
                fake.cancel_behind_back(dropped, OrderStatus.EXPIRED)
                fake.deliver()
            raise BreakerOpenError("orders breaker OPEN")
        return await original(request)

    fake.place_order = closes_fail_and_the_stop_expires  # type: ignore[method-assign]
    result = await croupier.sweep()
    await settle(fake, croupier)

    assert not result.is_flat
    assert eth.state is BracketState.PROTECTED and eth.sl_client_id != dropped
    stops = [o for o in fake.open_conditional("ETHUSDT") if o.request.type is OrderType.STOP_MARKET]
    assert [o.request.client_id for o in stops] == [eth.sl_client_id]


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
