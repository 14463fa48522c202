"""PositionTracker fees: each fill's fee is counted once, from whichever report of the fill carries it."""

import msgspec
import pytest

from casino_tui.clock import ManualClock
from casino_tui.engine.positions import AppliedFill, PositionTracker
from casino_tui.model import BracketState, Decision, OrderStatus, OrderType, OrderUpdate, Side
from tests.unit.fakes import FakeExchange, make_croupier, settle

PRICES = {"BTCUSDT": 100.0}
FEE_RATE = 0.0004


def report(filled: float, fee: float, *, cid: str = "e1", price: float = 100.0) -> OrderUpdate:
    """One report of an order's fill state: cumulative `filled`, and the fee of the fill it describes."""
    status = OrderStatus.FILLED if filled >= 2.0 else OrderStatus.PARTIALLY_FILLED
    return OrderUpdate(
        "BTCUSDT", cid, "1", Side.BUY, OrderType.MARKET, status, 2.0, filled, price, filled, price, fee=fee
    )


def test_fee_from_the_stream_event_after_the_rest_answer_is_counted():
    tracker = PositionTracker()
    assert tracker.apply_fill(report(2.0, 0.0)) == AppliedFill(2.0, 0.0), "REST answer: no commission"
    assert tracker.apply_fill(report(2.0, 0.08)) == AppliedFill(0.0, 0.08), "the stream event adds the fee"
    assert tracker.fees == pytest.approx(0.08)
    assert tracker.qty("BTCUSDT") == pytest.approx(2.0) and tracker.trades == 1


def test_fee_from_the_stream_event_before_the_rest_answer_is_counted_once():
    tracker = PositionTracker()
    assert tracker.apply_fill(report(2.0, 0.08)) == AppliedFill(2.0, 0.08)
    assert tracker.apply_fill(report(2.0, 0.0)) == AppliedFill(0.0, 0.0), "the REST answer adds nothing"
    assert tracker.fees == pytest.approx(0.08) and tracker.qty("BTCUSDT") == pytest.approx(2.0)


def test_fee_on_both_reports_of_one_fill_is_counted_once():
    tracker = PositionTracker()  # the simulator puts the fee on the REST answer and on the event
    tracker.apply_fill(report(2.0, 0.08))
    assert tracker.apply_fill(report(2.0, 0.08)) == AppliedFill(0.0, 0.0)
    assert tracker.fees == pytest.approx(0.08) and tracker.trades == 1


def test_partial_fills_each_count_their_fee_after_a_cumulative_rest_answer():
    tracker = PositionTracker()
    tracker.apply_fill(report(2.0, 0.0, price=100.5))  # the REST answer already covers both fills
    assert tracker.apply_fill(report(1.0, 0.04, price=100.0)) == AppliedFill(0.0, 0.04)
    assert tracker.apply_fill(report(2.0, 0.0401, price=100.5)) == AppliedFill(0.0, 0.0401)
    assert tracker.apply_fill(report(1.0, 0.04, price=100.0)) == AppliedFill(0.0, 0.0), "a replayed event"
    assert tracker.fees == pytest.approx(0.0801)
    assert tracker.qty("BTCUSDT") == pytest.approx(2.0) and tracker.trades == 1


def test_fees_of_different_orders_at_the_same_quantity_are_both_counted():
    tracker = PositionTracker()
    tracker.apply_fill(report(2.0, 0.08, cid="a"))
    tracker.apply_fill(report(2.0, 0.08, cid="b"))
    assert tracker.fees == pytest.approx(0.16) and tracker.qty("BTCUSDT") == pytest.approx(4.0)


def test_an_update_without_a_fill_changes_nothing():
    tracker = PositionTracker()
    assert tracker.apply_fill(report(0.0, 0.0)) == AppliedFill(0.0, 0.0)
    assert tracker.on_fill(report(0.0, 0.0)) == 0.0
    assert tracker.fees == 0.0 and tracker.trades == 0 and not tracker.has_position("BTCUSDT")


class BinanceLikeFake(FakeExchange):
    """Like Binance: the REST answer to an order carries no commission; only the stream event does."""

    async def place_order(self, request):
        ack = await super().place_order(request)
        return msgspec.structs.replace(ack, fee=0.0)


@pytest.mark.parametrize("stream_first", [False, True], ids=["rest-first", "stream-first"])
async def test_bracket_and_session_fees_come_from_the_stream_on_binance(stream_first):
    fake = BinanceLikeFake(PRICES, fee_rate=FEE_RATE)
    fake.deliver_before_ack = stream_first
    croupier = make_croupier(fake, ManualClock())
    bracket = await croupier.open_bracket(Decision("BTCUSDT", Side.BUY, 0.5, 0), 100.0)
    await settle(fake, croupier)
    assert bracket is not None and bracket.state is BracketState.PROTECTED

    fake.move_price("BTCUSDT", 102.5)  # the take-profit fills
    await settle(fake, croupier)

    expected = 2.0 * 100.0 * FEE_RATE + 2.0 * 102.5 * FEE_RATE
    assert croupier.fees == pytest.approx(expected), "entry and exit fee, each once"
    assert bracket.fees == pytest.approx(expected)
    assert bracket.state is BracketState.CLOSED and croupier.tracker.qty("BTCUSDT") == 0


async def test_fees_on_the_simulated_exchange_match_its_wallet():
    from casino_tui.config import SimConfig, TradingConfig
    from casino_tui.engine.croupier import Croupier
    from casino_tui.engine.executor import OrderExecutor
    from casino_tui.exchange.sim.exchange import SimExchange

    clock = ManualClock()
    sim = SimExchange(SimConfig(seed=3), ["ETHUSDT"], clock, autorun=False)
    rules = await sim.symbol_rules()
    executor = OrderExecutor(sim, clock, backoff_s=0.001, max_backoff_s=0.005)
    croupier = Croupier(sim, rules, TradingConfig(notional_usdt=500.0), clock, executor=executor)
    sim.set_sinks(None, croupier)  # type: ignore[arg-type]
    await sim.start(["ETHUSDT"])
    wallet_before = (await sim.balance()).wallet

    price = (await sim.tickers())["ETHUSDT"]
    bracket = await croupier.open_bracket(Decision("ETHUSDT", Side.BUY, 0.5, 0), price)
    sim.flush_events()
    await croupier.wait_idle()

    assert bracket is not None and bracket.state is BracketState.PROTECTED
    paid = wallet_before - (await sim.balance()).wallet  # only the entry's fee so far
    assert paid > 0
    assert croupier.fees == pytest.approx(paid) and bracket.fees == pytest.approx(paid)
    await sim.stop()
