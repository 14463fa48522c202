"""OCOManager (through the Croupier) and OrderExecutor against the scriptable fake exchange."""

import asyncio

import pytest

from casino_tui.clock import ManualClock
from casino_tui.engine.brackets.machine import Leg, client_id
from casino_tui.model import BracketState, CloseReason, Decision, OrderStatus, OrderType, Side
from casino_tui.port import RejectedError, RetriableError, UnknownOutcomeError
from tests.unit.fakes import FakeExchange, make_croupier, settle

PRICES = {"BTCUSDT": 100.0, "ETHUSDT": 50.0, "SOLUSDT": 20.0}


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def fake():
    return FakeExchange(PRICES)


def decide(symbol: str, side: Side = Side.BUY) -> Decision:
    return Decision(symbol=symbol, side=side, score=0.5 * side.sign, ts_ms=0)


def is_market(request) -> bool:
    return request.type is OrderType.MARKET


def entries(fake: FakeExchange, symbol: str = "BTCUSDT") -> list:
    return [r for r in fake.placed if r.symbol == symbol and r.type is OrderType.MARKET and not r.reduce_only]


async def open_protected(fake, croupier, symbol="BTCUSDT", side=Side.BUY):
    bracket = await croupier.open_bracket(decide(symbol, side), PRICES[symbol])
    await settle(fake, croupier)
    assert bracket is not None and bracket.state is BracketState.PROTECTED, bracket
    return bracket


async def test_long_bracket_entry_protected_then_tp_fills_sl_cancelled_closed_tp(fake, clock):
    croupier = make_croupier(fake, clock)
    bracket = await open_protected(fake, croupier)
    assert bracket.is_protected
    assert (bracket.qty, bracket.entry_price) == (2.0, 100.0)
    assert (bracket.tp_price, bracket.sl_price) == (102.0, 98.0)
    legs = {o.request.type: o.request for o in fake.open_conditional("BTCUSDT")}
    assert legs[OrderType.TAKE_PROFIT_MARKET].side is Side.SELL and legs[OrderType.STOP_MARKET].close_position

    fake.move_price("BTCUSDT", 102.5)
    await settle(fake, croupier)

    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.TP)
    assert fake.orders[bracket.sl_client_id].status is OrderStatus.CANCELED, (
        "the SL sibling must be cancelled"
    )
    assert fake.open_conditional() == [] and fake.position_qty["BTCUSDT"] == 0
    assert bracket.realized_pnl == pytest.approx((102.5 - 100.0) * 2.0)
    assert croupier.realized_pnl == pytest.approx(5.0)
    assert croupier.fees == pytest.approx(2.0 * 100.0 * 0.0004 + 2.0 * 102.5 * 0.0004)
    assert (croupier.open_count, croupier.brackets_opened, croupier.brackets_closed) == (0, 1, 1)
    assert croupier.errors == 0


async def test_short_bracket_sl_fills_tp_cancelled_closed_sl(fake, clock):
    croupier = make_croupier(fake, clock)
    bracket = await open_protected(fake, croupier, side=Side.SELL)
    assert (bracket.tp_price, bracket.sl_price) == (98.0, 102.0)

    fake.move_price("BTCUSDT", 102.3)
    await settle(fake, croupier)

    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.SL)
    assert fake.orders[bracket.tp_client_id].status is OrderStatus.CANCELED
    assert bracket.realized_pnl == pytest.approx(-(102.3 - 100.0) * 2.0)
    assert fake.position_qty["BTCUSDT"] == 0 and fake.open_conditional() == []


async def test_fill_event_before_the_rest_ack(fake, clock):
    fake.deliver_before_ack = True  # every user-stream event reaches the croupier before the REST answer
    croupier = make_croupier(fake, clock)
    bracket = await croupier.open_bracket(decide("BTCUSDT"), 100.0)
    await settle(fake, croupier)
    assert bracket.state is BracketState.PROTECTED and bracket.is_protected
    assert len(entries(fake)) == 1 and len(fake.open_conditional()) == 2
    assert croupier.tracker.qty("BTCUSDT") == pytest.approx(2.0), "the fill must be counted once"
    fake.move_price("BTCUSDT", 97.0)
    await settle(fake, croupier)
    assert bracket.close_reason is CloseReason.SL and croupier.tracker.qty("BTCUSDT") == 0
    assert croupier.errors == 0


async def test_unknown_outcome_on_entry_is_looked_up_not_resent(fake, clock):
    fake.fail_next(
        "place", UnknownOutcomeError("Timeout waiting for response", -1007), after=True, match=is_market
    )
    croupier = make_croupier(fake, clock)
    bracket = await croupier.open_bracket(decide("BTCUSDT"), 100.0)
    await settle(fake, croupier)
    assert len(entries(fake)) == 1, "exactly one entry may exist on the exchange"
    assert bracket.entry_client_id in fake.get_calls, "the order must be looked up by client id"
    assert bracket.state is BracketState.PROTECTED
    assert croupier.executor.unknown_outcomes == 1


async def test_unknown_outcome_resolved_by_the_user_stream(fake, clock):
    fake.fail_next("place", UnknownOutcomeError("503 unknown"), after=True, match=is_market)
    croupier = make_croupier(fake, clock)
    croupier.executor.lookup_attempts = 1000  # only the stream can settle it in this test
    entry_id = client_id(1, Leg.ENTRY, 0, "BTCUSDT")
    fake.hidden_lookups = {entry_id: 10**6}  # the exchange keeps saying "no such order"

    async def deliver_once_looked_up():
        while not fake.get_calls:
            await asyncio.sleep(0)
        fake.deliver()

    helper = asyncio.create_task(deliver_once_looked_up())
    try:
        bracket = await asyncio.wait_for(croupier.open_bracket(decide("BTCUSDT"), 100.0), 30)
        await helper
    finally:
        helper.cancel()
    await settle(fake, croupier)
    assert bracket.entry_client_id == entry_id
    assert len(entries(fake)) == 1 and bracket.state is BracketState.PROTECTED
    assert len(fake.get_calls) < 1000, "the stream event, not the lookups, settled it"


async def test_unknown_outcome_never_placed_gives_up_without_resending(fake, clock):
    fake.fail_next("place", UnknownOutcomeError("Timeout", -1007), after=False, match=is_market)
    croupier = make_croupier(fake, clock)
    bracket = await croupier.open_bracket(decide("BTCUSDT"), 100.0)
    await settle(fake, croupier)
    assert entries(fake) == [], "no resend after an unknown outcome"
    assert len(fake.get_calls) == croupier.executor.lookup_attempts
    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.REJECTED)
    assert croupier.open_count == 0


async def test_retriable_failure_on_entry_is_retried(fake, clock):
    fake.fail_next("place", RetriableError("Service Unavailable"), match=is_market, times=2)
    croupier = make_croupier(fake, clock)
    bracket = await open_protected(fake, croupier)
    assert len(entries(fake)) == 1 and croupier.executor.retries == 2
    assert bracket.is_protected


async def test_rejected_entry_closes_the_bracket_as_rejected(fake, clock):
    fake.fail_next("place", RejectedError("Margin is insufficient.", -2019), match=is_market)
    croupier = make_croupier(fake, clock)
    bracket = await croupier.open_bracket(decide("BTCUSDT"), 100.0)
    await settle(fake, croupier)
    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.REJECTED)
    assert fake.placed == [] and croupier.open_count == 0 and croupier.brackets_opened == 0


async def test_stop_rejected_closes_the_position_at_once(fake, clock):
    fake.fail_next(
        "place",
        RejectedError("Order would immediately trigger.", -2021),
        match=lambda r: r.type.is_conditional,
    )
    croupier = make_croupier(fake, clock)
    bracket = await croupier.open_bracket(decide("BTCUSDT"), 100.0)
    await settle(fake, croupier)
    assert (bracket.state, bracket.close_reason) == (BracketState.CLOSED, CloseReason.PROTECT_FAILED)
    closes = [r for r in fake.placed if r.reduce_only]
    assert len(closes) == 1 and closes[0].side is Side.SELL and closes[0].quantity == pytest.approx(2.0)
    assert fake.position_qty["BTCUSDT"] == 0 and fake.open_conditional() == []


async def test_tp_rejected_after_sl_placed_closes_position_and_cancels_sl(fake, clock):
    fake.fail_next(
        "place", RejectedError("rejected", -2010), match=lambda r: r.type is OrderType.TAKE_PROFIT_MARKET
    )
    croupier = make_croupier(fake, clock)
    bracket = await croupier.open_bracket(decide("BTCUSDT"), 100.0)
    await settle(fake, croupier)
    assert bracket.close_reason is CloseReason.PROTECT_FAILED and bracket.state is BracketState.CLOSED
    assert fake.orders[bracket.sl_client_id].status is OrderStatus.CANCELED
    assert fake.position_qty["BTCUSDT"] == 0 and fake.open_conditional() == []


async def test_expired_stop_is_replaced_while_the_position_is_open(fake, clock):
    croupier = make_croupier(fake, clock)
    bracket = await open_protected(fake, croupier)
    first_sl = bracket.sl_client_id
    fake.cancel_behind_back(first_sl, OrderStatus.EXPIRED)
    await settle(fake, croupier)
    assert bracket.sl_client_id != first_sl, "a new SL with a new client id"
    assert bracket.state is BracketState.PROTECTED and bracket.is_protected
    stops = [o for o in fake.open_conditional() if o.request.type is OrderType.STOP_MARKET]
    assert [o.request.client_id for o in stops] == [bracket.sl_client_id]


async def test_max_positions_and_one_bracket_per_symbol(fake, clock):
    croupier = make_croupier(fake, clock, max_positions=2)
    assert await croupier.open_bracket(decide("BTCUSDT"), 100.0) is not None
    assert await croupier.open_bracket(decide("BTCUSDT", Side.SELL), 100.0) is None, "symbol already active"
    assert await croupier.open_bracket(decide("ETHUSDT"), 50.0) is not None
    assert await croupier.open_bracket(decide("SOLUSDT"), 20.0) is None, "max_positions reached"
    await settle(fake, croupier)
    assert croupier.open_count == 2 and len(fake.position_qty) == 2


async def test_notional_below_min_is_skipped(fake, clock):
    croupier = make_croupier(fake, clock, notional_usdt=1.0)
    assert await croupier.open_bracket(decide("BTCUSDT"), 100.0) is None
    assert fake.placed == []


async def test_concurrent_decisions_for_one_symbol_open_one_bracket(fake, clock):
    croupier = make_croupier(fake, clock)
    results = await asyncio.gather(*(croupier.open_bracket(decide("BTCUSDT"), 100.0) for _ in range(5)))
    await settle(fake, croupier)
    assert sum(r is not None for r in results) == 1 and len(entries(fake)) == 1


async def test_client_ids_continue_from_the_persisted_counter(fake, clock):
    croupier = make_croupier(fake, clock)
    croupier.book.next_seq = 41
    bracket = await open_protected(fake, croupier)
    assert bracket.id == "B000041" and bracket.entry_client_id.startswith("ct000041E")
    assert croupier.next_bracket_seq == 42


async def test_bracket_rows_show_state_marks_and_protection(fake, clock):
    croupier = make_croupier(fake, clock)
    bracket = await open_protected(fake, croupier)
    croupier.on_mark("BTCUSDT", 101.0)
    clock.advance(30_000)
    (row,) = croupier.bracket_rows(clock.now_ms())
    assert (row.bracket_id, row.side, row.state, row.is_protected) == (
        bracket.id,
        "LONG",
        BracketState.PROTECTED,
        True,
    )
    assert (row.is_at_risk, row.close_reason) == (False, None)
    assert row.upnl == pytest.approx(2.0) and row.age_s == pytest.approx(30.0)
    assert (row.tp, row.sl) == (102.0, 98.0)


async def test_a_closed_brackets_row_carries_its_close_reason_and_its_realised_pnl(fake, clock):
    croupier = make_croupier(fake, clock)
    await open_protected(fake, croupier)
    fake.move_price("BTCUSDT", 97.5)
    await settle(fake, croupier)

    (row,) = croupier.bracket_rows(clock.now_ms())

    assert (row.state, row.close_reason, row.is_at_risk) == (BracketState.CLOSED, CloseReason.SL, False)
    assert row.upnl == pytest.approx((97.5 - 100.0) * 2.0)


async def test_a_row_is_at_risk_while_the_stop_is_unacknowledged_not_while_only_the_tp_is(fake, clock):
    croupier = make_croupier(fake, clock)
    bracket = await open_protected(fake, croupier)

    bracket.sl_acked = False  # as if the stop had been cancelled behind our back
    assert croupier.bracket_rows(clock.now_ms())[0].is_at_risk
    bracket.sl_acked, bracket.tp_acked = True, False
    assert not croupier.bracket_rows(clock.now_ms())[0].is_at_risk, "the stop is what protects"


async def test_journal_gets_intent_before_send_and_ack_after(fake, clock):
    order: list[str] = []

    class Journal:
        async def record_intent(self, request):
            assert request.client_id not in fake.orders, "the intent must be written before the send"
            order.append(f"intent:{request.client_id}")

        def record_ack(self, update):
            order.append(f"ack:{update.client_id}")

    croupier = make_croupier(fake, clock)
    croupier.executor.journal = Journal()
    bracket = await open_protected(fake, croupier)
    assert order[:2] == [f"intent:{bracket.entry_client_id}", f"ack:{bracket.entry_client_id}"]
    assert f"intent:{bracket.sl_client_id}" in order and f"ack:{bracket.tp_client_id}" in order


async def test_late_fill_after_giving_up_on_the_entry_is_closed_at_once(fake, clock):
    fake.fail_next("place", UnknownOutcomeError("Timeout", -1007), after=True, match=is_market)
    fake.hidden_lookups = {client_id(1, Leg.ENTRY, 0, "BTCUSDT"): 10**6}
    croupier = make_croupier(fake, clock)
    bracket = await croupier.open_bracket(decide("BTCUSDT"), 100.0)
    assert bracket.close_reason is CloseReason.REJECTED
    await settle(fake, croupier)  # now the stream reports the fill that did happen
    assert fake.position_qty["BTCUSDT"] == 0, "an entry nobody manages must not stay open"
    assert len(entries(fake)) == 1 and croupier.open_count == 0


async def test_executor_does_not_retry_an_open_breaker_or_a_ban(fake, clock):
    from casino_tui.model import OrderRequest
    from casino_tui.port import BreakerOpenError, RateLimitedError

    croupier = make_croupier(fake, clock)
    executor = croupier.executor
    request = OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, 1.0, "x1")
    fake.fail_next("place", BreakerOpenError("orders breaker open"))
    with pytest.raises(BreakerOpenError):
        await executor.place(request)
    fake.fail_next("place", RateLimitedError("banned", -1003, retry_after_s=120.0, banned=True))
    with pytest.raises(RateLimitedError):
        await executor.place(request)
    assert executor.retries == 0 and fake.placed == []
    fake.fail_next("place", RateLimitedError("slow down", -1003, retry_after_s=0.001))
    assert (await executor.place(request)).status is OrderStatus.FILLED and executor.retries == 1


async def test_executor_cancel_of_an_unknown_order_returns_none(fake, clock):
    croupier = make_croupier(fake, clock)
    assert await croupier.executor.cancel("BTCUSDT", "nope", conditional=True) is None


def fill(symbol, side, qty, price, cid):
    from casino_tui.model import OrderUpdate

    return OrderUpdate(
        symbol, cid, "1", side, OrderType.MARKET, OrderStatus.FILLED, qty, qty, price, qty, price, fee=0.1
    )


def test_tracker_nets_fills_realises_pnl_and_ignores_duplicates():
    from casino_tui.engine.positions import PositionTracker

    tracker = PositionTracker()
    assert tracker.on_fill(fill("BTCUSDT", Side.BUY, 2.0, 100.0, "a")) == 2.0
    assert tracker.on_fill(fill("BTCUSDT", Side.BUY, 2.0, 100.0, "a")) == 0.0, "the same fill twice"
    tracker.on_fill(fill("BTCUSDT", Side.BUY, 2.0, 110.0, "b"))
    assert tracker.position("BTCUSDT").entry_price == pytest.approx(105.0)
    tracker.on_fill(fill("BTCUSDT", Side.SELL, 1.0, 115.0, "c"))
    assert tracker.realized_pnl == pytest.approx(10.0) and tracker.qty("BTCUSDT") == pytest.approx(3.0)
    tracker.on_fill(fill("BTCUSDT", Side.SELL, 5.0, 95.0, "d"))  # close 3 at a loss, flip to 2 short
    assert tracker.realized_pnl == pytest.approx(10.0 - 30.0)
    assert tracker.qty("BTCUSDT") == pytest.approx(-2.0) and tracker.position("BTCUSDT").entry_price == 95.0
    tracker.on_mark("BTCUSDT", 90.0)
    assert tracker.unrealized_pnl() == pytest.approx(10.0) and tracker.equity(1000.0) == pytest.approx(1010.0)
    assert tracker.fees == pytest.approx(0.4) and tracker.trades == 4


class _MarkSink:
    """Market sink that forwards marks to the croupier (trades are not needed here)."""

    def __init__(self, croupier):
        self.croupier = croupier

    def on_trade(self, trade):
        pass

    def on_mark_price(self, symbol, price, ts_ms):
        self.croupier.on_mark(symbol, price)

    def on_stream_status(self, stream, connected, reason):
        pass


async def test_bracket_lifecycle_on_the_simulated_exchange():
    from casino_tui.config import SimConfig, TradingConfig
    from casino_tui.engine.croupier import Croupier
    from casino_tui.engine.executor import OrderExecutor
    from casino_tui.exchange.sim.exchange import SimExchange

    clock = ManualClock()
    sim = SimExchange(SimConfig(seed=11), ["BTCUSDT", "ETHUSDT"], clock, autorun=False)
    rules = await sim.symbol_rules()
    config = TradingConfig(notional_usdt=500.0, take_profit_pct=0.003, stop_loss_pct=0.003)
    executor = OrderExecutor(sim, clock, backoff_s=0.001, max_backoff_s=0.005)
    croupier = Croupier(sim, rules, config, clock, executor=executor)
    sim.set_sinks(_MarkSink(croupier), croupier)
    await sim.start(["BTCUSDT", "ETHUSDT"])

    price = (await sim.tickers())["ETHUSDT"]
    bracket = await croupier.open_bracket(decide("ETHUSDT", Side.SELL), price)
    sim.flush_events()
    await croupier.wait_idle()
    assert bracket is not None and bracket.state is BracketState.PROTECTED, bracket
    assert len(await sim.open_orders("ETHUSDT")) == 2

    for _ in range(20_000):  # at most ~28 simulated hours in 5 s steps
        if bracket.state is BracketState.CLOSED:
            break
        clock.advance(5_000)
        sim.pump()
        sim.flush_events()
        await croupier.wait_idle()
        sim.flush_events()
    assert bracket.state is BracketState.CLOSED and bracket.close_reason in (CloseReason.TP, CloseReason.SL)
    assert await sim.positions() == [] and await sim.open_orders() == []
    assert (bracket.realized_pnl > 0) == (bracket.close_reason is CloseReason.TP)
    assert croupier.tracker.qty("ETHUSDT") == 0 and croupier.errors == 0
    await sim.stop()
